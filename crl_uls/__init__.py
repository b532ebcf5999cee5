__version__ = "0.0.1"

import os as _os   # OpenCV reads its pixel limit once, when cv2 is first imported: set it before any module of this package imports cv2 (crl_uls.data.MAX_PIXELS)
_v = _os.environ.get('CRL_ULS_MAX_PIXELS', '').strip()
_os.environ.setdefault('OPENCV_IO_MAX_IMAGE_PIXELS', str(min(int(_v), 2**62)) if _v.isdigit() and int(_v) >= 1 else '100000000')
del _v
