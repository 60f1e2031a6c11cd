"""``pykarabo demo``: a miniature European XFEL instrument in one process.

``instrument`` says which devices run and how they are wired, ``stacker`` and ``xgm`` are the
demo's own middlelayer devices, ``runner`` starts and operates everything, ``status`` and
``dashboard`` show it, ``probe`` is the bridge client, ``report`` checks the recorded run.
"""
