"""The file-saving calls shared by detectors with an areaDetector file plugin.

``FileSaverCalls`` is mixed into a Device class that defines ``filePut(attr, value)``
and ``fileGet(attr, **kw)`` (how the plugin's fields are named differs per detector):
the rest of the calls are the same for all of them.
"""
from __future__ import annotations


class FileSaverCalls:
    """setFilePath, setFileName, FileCaptureOn, getLastFileName, ... on filePut/fileGet."""

    def setFilePath(self, pathname):
        """Set the directory files are written to."""
        return self.filePut('FilePath', pathname)

    def setFileTemplate(self, fmt):
        """Set the file name template (C format of path, name and number)."""
        return self.filePut('FileTemplate', fmt)

    def setFileWriteMode(self, mode):
        """0 single, 1 capture, 2 stream."""
        return self.filePut('FileWriteMode', mode)

    def setFileName(self, fname):
        """Set the base file name."""
        return self.filePut('FileName', fname)

    def nextFileNumber(self):
        """Add one to the file number."""
        self.setFileNumber(1 + self.fileGet('FileNumber'))

    def setFileNumber(self, fnum=None):
        """Use file number ``fnum``, or with None let the plugin count on by itself."""
        if fnum is None:
            self.filePut('AutoIncrement', 1)
            return None
        self.filePut('AutoIncrement', 0)
        return self.filePut('FileNumber', fnum)

    def getLastFileName(self):
        """The full name of the last file written."""
        return self.fileGet('FullFileName_RBV', as_string=True)

    def FileCaptureOn(self):
        """Start capturing frames to file."""
        return self.filePut('Capture', 1)

    def FileCaptureOff(self):
        """Stop capturing frames to file."""
        return self.filePut('Capture', 0)

    def setFileNumCapture(self, n):
        """Number of frames to capture into a file."""
        return self.filePut('NumCapture', n)

    def FileWriteComplete(self):
        """Whether no file is being written."""
        return 0 == self.fileGet('WriteFile_RBV')

    def getFileTemplate(self):
        return self.fileGet('FileTemplate_RBV', as_string=True)

    def getFileName(self):
        return self.fileGet('FileName_RBV', as_string=True)

    def getFileNumber(self):
        return self.fileGet('FileNumber_RBV')

    def getFilePath(self):
        return self.fileGet('FilePath_RBV', as_string=True)

    def getFileNameByIndex(self, index):
        """The name the template gives file number ``index``."""
        return self.getFileTemplate() % (self.getFilePath(), self.getFileName(), index)
