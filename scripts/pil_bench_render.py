#!/usr/bin/python3
"""Pillow's side of `tfkd bench render` (src/bench/render.ts): the same images through what a
PyTorch user runs — `Image.open(f).convert(mode)` (torchvision's ImageFolder loader), then
torchvision's `Resize` + `CenterCrop` (eval) or `resized_crop` + `hflip` of the boxes tfkd printed
(RandomResizedCrop's output for those draws), then a policy's operations when tfkd drew any
(RandAugment / TrivialAugmentWide: torchvision's `_apply_op` of each) — timed the way tfkd times
its own side.

Run with Debian's interpreter (/usr/bin/python3: Pillow 9.4, torchvision). A long-lived child:

  stdin line 1: JSON {files, mode, interpolation, kind: 'eval'|'boxes', resize, crop, crop_rounding,
                      boxes: [[left, top, w, h, flip(, [[op, magnitude], ...])], ...], size: [H, W],
                      resized: [[w, h], ...]}
  then commands, one per line, each answered by one JSON line on stdout:
    single       one pass per stage on this process, one image at a time: decode alone, render
                 alone (of the decoded images), resize alone (the whole image to its Resize size,
                 no crop: the resampler by itself), decode + render; CPU (process_time) and wall
                 seconds of each
    parallel N   decode + render of every file on N worker processes (what DataLoader(num_workers=N)
                 does): wall seconds
    digest       sha256 of every rendered image's bytes (tfkd checks them against its own)
    quit
Pillow and torchvision run single-threaded per image (PIL's resampler and decoder are).
"""
import hashlib
import json
import multiprocessing as mp
import sys
import time

from PIL import Image
import torchvision.transforms as T
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import _apply_op

CFG = None
PIL_FILTERS = {
    'nearest': Image.Resampling.NEAREST, 'bilinear': Image.Resampling.BILINEAR, 'bicubic': Image.Resampling.BICUBIC,
    'lanczos': Image.Resampling.LANCZOS, 'box': Image.Resampling.BOX, 'hamming': Image.Resampling.HAMMING,
}
TV_MODES = {
    'nearest': InterpolationMode.NEAREST, 'bilinear': InterpolationMode.BILINEAR, 'bicubic': InterpolationMode.BICUBIC,
    'lanczos': InterpolationMode.LANCZOS, 'box': InterpolationMode.BOX, 'hamming': InterpolationMode.HAMMING,
}


def setup(cfg):
    global CFG, EVAL
    CFG = cfg
    interp = TV_MODES[cfg['interpolation']]
    steps = []
    if cfg['kind'] == 'eval':
        if cfg['resize'] is not None:
            steps.append(T.Resize(cfg['resize'], interpolation=interp))
        if cfg['crop'] is not None:
            if cfg.get('crop_rounding', 'round') != 'round':
                raise SystemExit('pil_bench_render.py: only torchvision\'s CenterCrop rounding (round) is compared')
            steps.append(T.CenterCrop(cfg['crop']))
    EVAL = T.Compose(steps)


def decode(i):
    return Image.open(CFG['files'][i]).convert(CFG['mode'])


def render(i, im):
    if CFG['kind'] == 'eval':
        return EVAL(im)
    left, top, w, h, flip = CFG['boxes'][i][:5]
    out = F.resized_crop(im, top, left, h, w, CFG['size'], TV_MODES[CFG['interpolation']])
    if flip:
        out = F.hflip(out)
    for op, magnitude in (CFG['boxes'][i][5] if len(CFG['boxes'][i]) > 5 else []):
        out = _apply_op(out, op, magnitude, interpolation=InterpolationMode.NEAREST, fill=None)
    return out


def pipeline(i):
    return render(i, decode(i))


def pipeline_count(i):
    pipeline(i)
    return 1


def timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    r = fn()
    return r, time.process_time() - c0, time.perf_counter() - w0


def single():
    n = len(CFG['files'])
    ims, dc, dw = timed(lambda: [decode(i) for i in range(n)])
    _, rc, rw = timed(lambda: [render(i, ims[i]) for i in range(n)])
    f = PIL_FILTERS[CFG['interpolation']]
    _, zc, zw = timed(lambda: [ims[i].resize(tuple(CFG['resized'][i]), f) for i in range(n)])
    del ims
    _, pc, pw = timed(lambda: [pipeline(i) for i in range(n)])
    return {'n': n, 'decode_cpu_s': dc, 'decode_wall_s': dw, 'render_cpu_s': rc, 'render_wall_s': rw,
            'resize_cpu_s': zc, 'resize_wall_s': zw, 'pipeline_cpu_s': pc, 'pipeline_wall_s': pw}


def main():
    cfg = json.loads(sys.stdin.readline())
    setup(cfg)
    pools = {}
    out = sys.stdout
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == 'quit':
            break
        if cmd[0] == 'single':
            r = single()
        elif cmd[0] == 'parallel':
            n = int(cmd[1])
            if n not in pools:
                pools[n] = mp.get_context('fork').Pool(n, initializer=setup, initargs=(cfg,))
                pools[n].map(pipeline_count, range(min(len(cfg['files']), 2 * n)))  # warm the workers
            files = len(cfg['files'])
            w0 = time.perf_counter()
            done = sum(pools[n].imap_unordered(pipeline_count, range(files), chunksize=max(1, files // (8 * n))))
            r = {'n': done, 'workers': n, 'wall_s': time.perf_counter() - w0}
        elif cmd[0] == 'digest':
            r = {'sha256': [hashlib.sha256(pipeline(i).tobytes()).hexdigest() for i in range(len(cfg['files']))]}
        else:
            raise SystemExit(f'pil_bench_render.py: unknown command {cmd[0]!r}')
        out.write(json.dumps(r) + '\n')
        out.flush()
    for p in pools.values():
        p.terminate()


if __name__ == '__main__':
    import PIL
    sys.stdout.write(json.dumps({'pillow': PIL.__version__}) + '\n')
    sys.stdout.flush()
    main()
