"""pyepics' ``epics.devices.ad_fileplugin``: an areaDetector file plugin
(``PREFIX:TIFF1:``, ``PREFIX:HDF1:``, ...)."""
from ..device import Device  # noqa: F401 -- a name of pyepics' module too
from ._areadetector import ADFields as _ADFields


class AD_FilePlugin(_ADFields):
    """A file saving plugin: path, name, number, template, write mode and capture."""

    attrs = ("AutoIncrement", "AutoIncrement_RBV", "AutoSave", "AutoSave_RBV", "Capture",
             "Capture_RBV", "EnableCallbacks", "EnableCallbacks_RBV", "FileName",
             "FileName_RBV", "FileNumber", "FileNumber_RBV", "FilePath", "FilePath_RBV",
             "FilePathExists_RBV", "FileTemplate", "FileTemplate_RBV", "FileWriteMode",
             "FileWriteMode_RBV", "FullFileName_RBV", "NDArrayPort", "NDArrayPort_RBV",
             "NumCapture", "NumCapture_RBV", "NumCaptured_RBV", "ReadFile", "ReadFile_RBV",
             "WriteFile", "WriteFile_RBV", "WriteMessage", "WriteStatus")

    def setFileName(self, fname):
        return self.put('FileName', fname)

    def nextFileNumber(self):
        """Add one to the file number."""
        self.setFileNumber(1 + self.get('FileNumber'))

    def setFileNumber(self, fnum=None):
        """Use file number ``fnum``, or with None let the plugin count on by itself."""
        if fnum is None:
            self.put('AutoIncrement', 1)
            return None
        self.put('AutoIncrement', 0)
        return self.put('FileNumber', fnum)

    def setPath(self, pathname):
        return self.put('FilePath', pathname)

    def setTemplate(self, fmt):
        return self.put('FileTemplate', fmt)

    def setWriteMode(self, mode):
        return self.put('FileWriteMode', mode)

    def getLastFileName(self):
        return self.get('FullFileName_RBV', as_string=True)

    def CaptureOn(self):
        return self.put('Capture', 1)

    def CaptureOff(self):
        return self.put('Capture', 0)

    def setNumCapture(self, n):
        return self.put('NumCapture', n)

    def WriteComplete(self):
        """Whether no file is being written."""
        return 0 == self.get('WriteFile_RBV')

    def getTemplate(self):
        return self.get('FileTemplate_RBV', as_string=True)

    def getName(self):
        return self.get('FileName_RBV', as_string=True)

    def getNumber(self):
        return self.get('FileNumber_RBV')

    def getPath(self):
        return self.get('FilePath_RBV', as_string=True)

    def getFileNameByIndex(self, index):
        """The name the template gives file number ``index``."""
        return self.getTemplate() % (self.getPath(), self.getName(), index)
