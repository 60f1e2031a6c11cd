"""Coverage-guided fuzzing of the binary decoder with atheris (optional, not part of pytest).

Seeds from the golden vectors; the only acceptable failure is DeserializationError.
Run: ``python tests/fuzz/fuzz_decode.py -max_total_time=600 [corpus_dir]``.
"""

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from pykarabo import DeserializationError, decodeBinary, encodeBinary

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "hash-golden"


def one_input(data: bytes) -> None:
    """Decode; accepted input must re-encode and decode to the same Hash."""
    try:
        h = decodeBinary(data)
    except DeserializationError:
        return
    assert decodeBinary(encodeBinary(h)).fullyEqual(h)


def main() -> None:
    """Seed a corpus from the goldens (if present) and fuzz."""
    args = sys.argv[1:]
    corpus = [a for a in args if not a.startswith("-")]
    if not corpus and GOLDEN.exists():
        seed = Path("fuzz-corpus")
        seed.mkdir(exist_ok=True)
        for f in GOLDEN.glob("*.bin"):
            if f.stat().st_size < 4096:
                (seed / f.name).write_bytes(f.read_bytes())
        args.append(str(seed))
    atheris.Setup([sys.argv[0], *args], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
