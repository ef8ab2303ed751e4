# Flash for the firmware on the MicroPython unix port: block devices with the
# protocol os.VfsLfs2 and os.VfsFat mount (readblocks, writeblocks, ioctl),
# held in RAM or written through to an image file. Runs on MicroPython (the
# simulator's terminal, the power-cut tests) and on CPython (building and
# reading images); no annotations.
#
# readblocks/writeblocks take an optional offset inside the block: littlefs
# uses it (the "extended" interface), FAT reads and writes whole blocks.

IOCTL_INIT = 1
IOCTL_DEINIT = 2
IOCTL_SYNC = 3
IOCTL_BLOCK_COUNT = 4
IOCTL_BLOCK_SIZE = 5
IOCTL_ERASE = 6

ERASED = 0xFF   # what NOR flash reads after an erase


class RamBlockDevice:
    """block_count blocks of block_size bytes in a bytearray (data, to
    start from a saved image)."""

    def __init__(self, block_size=512, block_count=256, data=None):
        self.block_size = block_size
        self.block_count = block_count
        size = block_size * block_count
        if data is None:
            self.data = bytearray(b"\xff" * size)
        else:
            if len(data) != size:
                raise ValueError("image size is not block_size * block_count")
            self.data = bytearray(data)

    def readblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        buf[:] = self.data[start:start + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        self._program(block * self.block_size + (offset or 0), buf)

    def _program(self, start, buf):
        self.data[start:start + len(buf)] = buf

    def _erase(self, block):
        self._program(block * self.block_size, b"\xff" * self.block_size)

    def ioctl(self, op, arg):
        if op == IOCTL_BLOCK_COUNT:
            return self.block_count
        if op == IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == IOCTL_ERASE:
            self._erase(arg)
            return 0
        return 0   # init, deinit, sync: nothing to do in RAM


class FileBlockDevice(RamBlockDevice):
    """A RamBlockDevice whose every program and erase is also written to the
    image file at path, so the flash survives the process (the simulator's
    --state folder). The file is created, erased, when missing."""

    def __init__(self, path, block_size=512, block_count=256):
        try:
            f = open(path, "rb")
            data = f.read()
            f.close()
        except OSError:
            data = None
        if data is not None and len(data) != block_size * block_count:
            raise ValueError("flash image %s is %d bytes, not %d"
                             % (path, len(data), block_size * block_count))
        RamBlockDevice.__init__(self, block_size, block_count, data)
        if data is None:
            new = open(path, "wb")
            new.write(self.data)
            new.close()
        self._file = open(path, "r+b")

    def _program(self, start, buf):
        RamBlockDevice._program(self, start, buf)
        self._file.seek(start)
        self._file.write(buf)
        self._file.flush()

    def close(self):
        self._file.close()


EIO = 5


class PowerCutBlockDevice(RamBlockDevice):
    """A RamBlockDevice that counts its program and erase operations
    (writeblocks, ioctl erase: ops) and loses power during the cut_at-th one
    (1 is the first; None: never): that operation is lost (half=False) or
    only the first half of its bytes is programmed (half=True), and it and
    every later program or erase raise OSError(EIO), as a dead device.
    Reads go on working, so the image (data) can be inspected; a "reboot"
    is a new device made from it. Run a scenario once with cut_at=None to
    count its operations, then once for every cut_at up to that count."""

    def __init__(self, block_size=512, block_count=256, data=None,
                 cut_at=None, half=False):
        RamBlockDevice.__init__(self, block_size, block_count, data)
        self.cut_at = cut_at
        self.half = half
        self.ops = 0
        self.dead = False
        self._view = memoryview(self.data)

    def readblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        if not self.dead:
            buf[:] = self._view[start:start + len(buf)]   # no copy of a copy
            return
        # After the cut a file left open may be closed by the garbage
        # collector's finaliser, where the heap is locked: copy without
        # allocating.
        data = self.data
        for i in range(len(buf)):
            buf[i] = data[start + i]

    def _program(self, start, buf):
        if self.dead:
            raise OSError(EIO)
        self.ops += 1
        if self.cut_at is not None and self.ops >= self.cut_at:
            self.dead = True
            if self.half:
                RamBlockDevice._program(self, start, buf[:len(buf) // 2])
            raise OSError(EIO)
        RamBlockDevice._program(self, start, buf)
