"""Write the bad-input corpus beside this file (run once; the files are committed). The 8000x8000 image is made by its test."""
import json, struct, zlib
from pathlib import Path
import numpy as np, cv2

HERE = Path(__file__).resolve().parent

def main():
    from crl_uls.phantom import make_phantom
    from crl_uls.data import write_dicom, labelme_dict
    p = make_phantom(seed=5, index=0, size=(96, 80))
    cv2.imwrite(str(HERE/'phantom.png'), p.image)
    good = (HERE/'phantom.png').read_bytes()
    (HERE/'truncated.png').write_bytes(good[:len(good) // 3])
    (HERE/'zero_bytes.png').write_bytes(b'')
    cv2.imwrite(str(HERE/'one_pixel.png'), np.full((1, 1), 128, np.uint8))
    cv2.imwrite(str(HERE/'sixteen_bit.png'), p.image.astype(np.uint16) * 257)
    rgba = np.dstack([p.image] * 3 + [np.full_like(p.image, 255)])
    cv2.imwrite(str(HERE/'rgba.png'), rgba)
    write_dicom(HERE/'no_pixel_data.dcm', p.image, p.mm_per_px)
    import pydicom
    ds = pydicom.dcmread(HERE/'no_pixel_data.dcm'); del ds.PixelData; ds.save_as(HERE/'no_pixel_data.dcm')
    for n in (0, 1, 3):
        d = labelme_dict(p.crown, p.rump, 'phantom.png', (96, 80))
        pts = [p.crown, p.rump, p.crown][:n]
        d['shapes'] = [{'label': f'pt{i}', 'points': [[float(q[0]), float(q[1])]], 'shape_type': 'point', 'group_id': None,
                        'description': '', 'flags': {}} for i, q in enumerate(pts)]
        (HERE/f'labelme_{n}_points.json').write_text(json.dumps(d, indent=1))
    cv2.imwrite(str(HERE/'mask_wrong_size.png'), np.zeros((40, 48), np.uint8))
    (HERE/'not_an_image.txt').write_text('a note that slipped into the scan folder\n')
    (HERE/'truth.json').write_text(json.dumps({'crown': list(p.crown), 'rump': list(p.rump), 'mm_per_px': p.mm_per_px}))
    write_oversized()

def png_declaring(w, h) -> bytes:
    "A valid PNG header (CRCs right) declaring w x h grey pixels, followed by the compressed zeros of a few rows only."
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(b'\0' * 4096)) + chunk(b'IEND', b''))

def jpeg_declaring(w, h) -> bytes:
    "A JPEG of 16 x 16 px whose frame header (SOF0) says w x h, cut short after the start of its scan."
    ok, buf = cv2.imencode('.jpg', np.zeros((16, 16), np.uint8)); b = bytearray(buf.tobytes())
    i = b.index(b'\xff\xc0'); b[i + 5:i + 9] = struct.pack('>HH', h, w)
    return bytes(b[:b.index(b'\xff\xda') + 20])

def write_oversized():
    """Files whose header declares far more than they hold: 100,000 x 100,000 px in 83 bytes; 10,000 frames of 512 x 512
    in 770; 30,000 x 30,000 px in a 335-byte JPEG, which OpenCV's default limit (2**30 px) lets through: decoded, 1.7 GB."""
    import pydicom
    from crl_uls.data import write_dicom
    (HERE/'declares_100000x100000.png').write_bytes(png_declaring(100_000, 100_000))
    (HERE/'declares_30000x30000.jpg').write_bytes(jpeg_declaring(30_000, 30_000))
    f = write_dicom(HERE/'declares_10000_frames.dcm', np.zeros((2, 4, 4), np.uint8), 0.2)     # a multi-frame file of 2 frames of 4 x 4 ...
    ds = pydicom.dcmread(f); ds.Rows = ds.Columns = 512; ds.NumberOfFrames = 10_000; ds.save_as(f)   # ... that says 10,000 of 512 x 512

if __name__ == '__main__': main()
