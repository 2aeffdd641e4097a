"""Joining a continuation to the partial answer it continues, without duplicating or dropping characters.

Everything already shown stays: the joined answer always starts with the partial. What comes back from a model
asked to continue varies:

- a true prefill continuation (Anthropic) picks up right after the prefix; the only seam is the trailing
  whitespace the API made us strip from the prefill, which the model usually writes again;
- a model told "continue exactly where you stopped" often repeats the last words first ("…the last words the last
  words and on"), or starts the whole answer over.

``ContinuationJoiner`` buffers the start of the continuation until it can tell which case it is in, trims the
repeated part, then passes text through untouched. It is a pure ``feed``/``flush`` object like the parser.
"""

from __future__ import annotations

MIN_OVERLAP = 4  # shorter repeats are too likely to be chance ("\n", "  ", "e ") to trim safely
LOOKAHEAD = 240  # characters buffered before deciding; a repeat longer than this is treated as a restart check


class ContinuationJoiner:
    def __init__(self, partial: str, *, prefill: bool = False, stripped: str = '') -> None:
        """``partial`` is what was shown; ``prefill`` says the provider continued it as a prefix, after
        ``stripped`` (its trailing whitespace) was removed for the API."""
        self._partial = partial
        self._prefill = prefill
        self._stripped = stripped
        self._buffer = ''
        self._decided = False
        self.trimmed = 0  # characters of the continuation dropped as a repeat (for the event log)

    def feed(self, chunk: str) -> str:
        if self._decided:
            return chunk
        self._buffer += chunk
        if self._prefill:
            return self._join_prefill(final=False)
        if self._could_still_repeat():
            return ''  # wait until the text either goes beyond what was shown or departs from it
        return self._decide()

    def flush(self) -> str:
        """The continuation ended: whatever is still buffered is decided now."""
        if self._decided:
            return ''
        if self._prefill:
            return self._join_prefill(final=True)
        return self._decide()

    def _could_still_repeat(self) -> bool:
        """Whether the buffered start may still be the model re-writing the beginning of the answer, or a part of
        its end (any place in the last LOOKAHEAD characters could be where a repeated tail starts)."""
        buffer, partial = self._buffer, self._partial
        if len(partial) >= MIN_OVERLAP and len(buffer) <= len(partial) and partial.startswith(buffer):
            return True
        return len(buffer) < LOOKAHEAD and buffer in partial[-LOOKAHEAD:]

    def _decide(self) -> str:
        self._decided = True
        text, self._buffer = self._buffer, ''
        if len(text) > len(self._partial) and text.startswith(self._partial) and len(self._partial) >= MIN_OVERLAP:
            self.trimmed = len(self._partial)  # it started over: keep only what is new
            return text[len(self._partial):]
        if self._partial.startswith(text):
            self.trimmed = len(text)  # it only repeated (part of) the beginning, then stopped
            return ''
        best = 0
        for k in range(min(len(text), len(self._partial)), MIN_OVERLAP - 1, -1):
            # Whitespace alone is never taken for a repeat: a cut inside a line's indentation is followed by the
            # rest of that indentation, which the partial's end matches by chance (it lost 4 spaces of code).
            if self._partial.endswith(text[:k]) and not text[:k].isspace():
                best = k
                break
        self.trimmed = best
        return text[best:]

    def _join_prefill(self, *, final: bool) -> str:
        """The model continues the stripped prefill: drop the whitespace it writes again that was already shown."""
        ws, text = self._stripped, self._buffer
        common = 0
        while common < len(ws) and common < len(text) and ws[common] == text[common]:
            common += 1
        if common < len(ws) and common == len(text) and not final:
            return ''  # the continuation so far is all re-written whitespace: wait for more
        self._decided = True
        self._buffer = ''
        self.trimmed = common
        return text[common:]
