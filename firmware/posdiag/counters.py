# Wear counters the terminal keeps across boots: paper fed (mm), cuts and
# head energizing count, as reported by the POS application after each print.
# The printer's own counters (GS g 2), where it answers, are read at boot.
from posdiag import flashfile

_FILE = "counters"
_FMT = "<III"


class Counters:
    def __init__(self, storage):
        self._st = storage
        saved = flashfile.load_struct(storage, _FILE, _FMT)
        self.values = list(saved) if saved else [0, 0, 0]
        self._unsaved = 0
        self._gen = None   # the newest copy's generation, once we wrote it

    def add(self, paper_mm=0, cuts=0, energized=0):
        v = self.values
        amounts = (paper_mm, cuts, energized)
        for i in range(3):
            # Saturate rather than wrap: a counter at its top still says "worn".
            v[i] = min(0xFFFFFFFF, v[i] + amounts[i])
        self._unsaved += 1
        if self._unsaved >= 20:   # flash wear: not every receipt
            self.save()

    def save(self):
        self._gen = flashfile.save_struct(self._st, _FILE, _FMT, self.values,
                                          self._gen)
        self._unsaved = 0
