"""A small module to read with the character model: strings, brackets, indentation."""

import os


def load_settings(path, defaults=None):
    """Read key = value lines from path into a dict, starting from defaults."""
    settings = dict(defaults or {})
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise ValueError(f"line {number}: expected 'key = value', got {line!r}")
            key, value = (part.strip() for part in line.split("=", 1))
            settings[key] = value
    return settings


class Counter:
    """Count words, ignoring case and the characters in 'skip'."""

    def __init__(self, skip=",.;:!?"):
        self.skip = skip
        self.counts = {}

    def add(self, text):
        for word in text.lower().split():
            word = word.strip(self.skip)
            if word:
                self.counts[word] = self.counts.get(word, 0) + 1
        return len(self.counts)

    def most_common(self, n=3):
        pairs = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [(word, count) for (word, count) in pairs[:n]]


if __name__ == "__main__":
    counter = Counter()
    counter.add("the cat and the hat, and the bat")
    print(counter.most_common(2), os.sep)
