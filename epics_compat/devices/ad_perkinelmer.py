"""pyepics' ``epics.devices.ad_perkinelmer``: a Perkin-Elmer flat panel (areaDetector),
its cam (``PREFIX + 'cam1:'``) and a file plugin (``PREFIX + filesaver``)."""
import time

from ..device import Device
from ._filesaver import FileSaverCalls as _FileSaverCalls

#: TriggerMode by the start of its name (anything else is internal, 0).
_TRIGGER_MODES = (('ext', 1), ('free', 2), ('soft', 3))


class AD_PerkinElmer(_FileSaverCalls, Device):
    """The detector's cam fields as attributes; the file plugin's as ``File_<field>``
    (``filePut('Capture', 1)``)."""

    camattrs = ('PEAcquireOffset', 'PENumOffsetFrames', 'ImageMode', 'TriggerMode',
                'Acquire', 'AcquireTime', 'Model_RBV', 'NumImages', 'ShutterControl',
                'ShutterMode')
    pathattrs = ('FilePath', 'FileTemplate', 'FileWriteMode', 'FileName', 'FileNumber',
                 'FullFileName_RBV', 'Capture', 'Capture_RBV', 'NumCapture',
                 'WriteFile_RBV', 'AutoSave', 'EnableCallbacks', 'ArraySize0_RBV',
                 'FileTemplate_RBV', 'FileName_RBV', 'AutoIncrement')
    _nonpvs = ('_prefix', '_pvs', '_delim', 'filesaver', 'camattrs', 'pathattrs',
               '_nonpvs')

    def __init__(self, prefix, filesaver='netCDF1:'):
        Device.__init__(self, prefix + 'cam1:', delim='', mutable=False,
                        attrs=self.camattrs)
        self.filesaver = "%s%s" % (prefix, filesaver)
        for attr in self.pathattrs:
            self.add_pv('%s%s%s' % (prefix, filesaver, attr), attr='File_' + attr)

    def AcquireOffset(self, timeout=10, open_shutter=True):
        """Take the offset (dark) frames with the shutter closed, in single image mode
        with internal trigger, then restore the modes and (``open_shutter``) open the
        shutter. Waits for PEAcquireOffset to drop, at most ``timeout`` s past the
        frames' own time, and a few seconds for the detector to settle."""
        self.ShutterMode = 1
        self.ShutterControl = 0
        image_mode, trigger_mode = self.ImageMode, self.TriggerMode
        self.ImageMode = 0
        self.TriggerMode = 0
        offset_time = self.PENumOffsetFrames * self.AcquireTime
        time.sleep(0.50)
        self.PEAcquireOffset = 1
        start = time.time()
        time.sleep(offset_time / 3.0)
        while self.PEAcquireOffset > 0 and time.time() - start < timeout + offset_time:
            time.sleep(0.1)
        time.sleep(1.00)
        self.ImageMode = image_mode
        self.TriggerMode = trigger_mode
        time.sleep(1.00)
        if open_shutter:
            self.ShutterControl = 1
        self.ShutterMode = 0
        time.sleep(1.00)

    def SetExposureTime(self, t, open_shutter=True):
        """Set the exposure time and take a new offset for it."""
        self.AcquireTime = t
        self.AcquireOffset(open_shutter=open_shutter)

    def SetMultiFrames(self, n, trigger='external'):
        """Multiple image mode of ``n`` frames, all captured by the file plugin;
        ``trigger``: 'external', 'free running', 'soft' or anything else (internal)."""
        self.ImageMode = 1
        trigger = trigger.lower()
        trigger_mode = next((mode for start, mode in _TRIGGER_MODES
                             if trigger.startswith(start)), 0)
        time.sleep(0.1)
        self.TriggerMode = trigger_mode
        self.NumImages = n
        self.filePut('NumCapture', n)
        self.filePut('EnableCallbacks', 1)
        self.filePut('FileNumber', 1)
        self.filePut('AutoIncrement', 1)
        time.sleep(2.0)

    def StartStreaming(self):
        """Stream frames to a file and start acquiring."""
        self.ShutterMode = 0
        self.filePut('AutoSave', 1)
        self.filePut('FileWriteMode', 2)
        time.sleep(0.05)
        self.filePut('Capture', 1)
        self.Acquire = 1
        time.sleep(0.25)

    def FinishStreaming(self, timeout=5.0):
        """Wait up to ``timeout`` s for the capture to end, else stop it."""
        def wait_while_capturing():
            start = time.time()
            capturing = self.fileGet('Capture_RBV')
            while capturing == 1 and time.time() - start < timeout:
                time.sleep(0.05)
                capturing = self.fileGet('Capture_RBV')
            return capturing

        if wait_while_capturing() != 0:
            print('Forcing XRD Streaming to stop')
            self.filePut('Capture', 0)
            wait_while_capturing()
        time.sleep(0.50)

    def filePut(self, attr, value, **kw):
        """Write field ``attr`` of the file plugin."""
        return self.put("File_%s" % attr, value, **kw)

    def fileGet(self, attr, **kw):
        """Read field ``attr`` of the file plugin."""
        return self.get("File_%s" % attr, **kw)
