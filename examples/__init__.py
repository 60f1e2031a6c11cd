"""Example devices for pykarabo's middlelayer API (loadable as ``pykarabo server --plugins examples.motor``)."""
