"""Write the bad-input corpus beside this file (run once; the files are committed). The 8000x8000 image is made by its test."""
import json
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

if __name__ == '__main__': main()
