"""``python -m bench``: the streaming benchmark (``bench/stream_bench.py``; ``--help`` for its options)."""

from bench.stream_bench import main

raise SystemExit(main())
