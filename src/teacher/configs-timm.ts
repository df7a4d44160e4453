/**
 * `--preprocess timm:FILE`: a timm `config.json` (Hub) or a bare pretrained cfg → the eval
 * transform's spec, exactly as timm resolves and applies it (sources in configs.ts's header).
 */
import type { Interpolation } from '../data/image.js';
import { channelVector, fail, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, isObj, posInt, posNumber, show, square, truthy, type EcosystemPreprocess, type Obj } from './configs-common.js';

export interface TimmOptions {
  /**
   * resolve_data_config's `use_test_size` (default false there, and in resolve_model_data_config,
   * which model cards use): true takes `test_input_size` / `test_crop_pct` when the cfg has them.
   * (timm's validate.py passes `not --use-train-size`, i.e. true, for its own benchmark numbers.)
   */
  useTestSize?: boolean;
}


// timm/data/constants.py
const DEFAULT_CROP_PCT = 0.875;
const DEFAULT_CROP_MODE = 'center';

/** timm/data/transforms.py _str_to_torch_interpolation keys, i.e. what str_to_interp_mode accepts. */
const TIMM_INTERPOLATIONS: readonly Interpolation[] = ['nearest', 'bilinear', 'bicubic', 'box', 'hamming', 'lanczos'];

/**
 * A timm `config.json` (as `save_config_for_hf` writes it: `architecture`, `num_classes`,
 * `pretrained_cfg: {...}`) or a bare pretrained cfg (the legacy single-dict form that
 * timm/models/_hub.py `_parse_model_cfg` also accepts) → the eval transform's spec.
 *
 * Resolution follows timm/data/config.py `resolve_data_config(pretrained_cfg=cfg)`:
 *   input_size   `test_input_size` if `useTestSize` and present, else `input_size` (timm would default
 *                to (3, 224, 224); every Hub config has it, so its absence means a wrong file: refused);
 *   interpolation  the cfg's if truthy, else 'bicubic' (resolve_data_config's default, also the
 *                PretrainedCfg dataclass default; transforms_imagenet_eval's own 'bilinear' default
 *                never applies because resolve_data_config always passes one);
 *   mean / std   the cfg's if truthy, else IMAGENET_DEFAULT_MEAN / _STD;
 *   crop_pct     `test_crop_pct` if `useTestSize` and truthy, else `crop_pct` if truthy, else
 *                DEFAULT_CROP_PCT 0.875;   crop_mode  the cfg's if truthy, else 'center'.
 * then timm/data/transforms_factory.py `transforms_imagenet_eval(img_size=input_size[-2:], ...)`:
 *   scale_size = [floor(h / crop_pct), floor(w / crop_pct)];
 *   'squash' → transforms.Resize(scale_size) (a warp) → CenterCrop(img_size);
 *   'center' → scale square: transforms.Resize(scale_size[0]) (shorter side) → CenterCrop(img_size);
 *              else ResizeKeepRatio(scale_size): refused (see below);
 *   'border' → ResizeKeepRatio(scale_size, longest=1) → CenterCropOrPad(img_size, fill=mean·255):
 *              refused (see below);
 *   then MaybeToTensor (÷255) and Normalize(mean, std). CenterCrop's offsets are
 *   int(round((H − h) / 2)) (torchvision center_crop, and timm's center_crop_or_pad) → 'round'.
 * The loader (timm ImageDataset, torchvision ImageFolder) converts images with PIL `convert('RGB')`;
 * an in_chans 1 model gets 'L'.
 */
export function timmPreprocess(json: unknown, file: string, options: TimmOptions = {}): EcosystemPreprocess {
  if (!isObj(json)) fail(file, '(top level)', `must be a JSON object (a timm config.json or pretrained cfg), got ${show(json)}`);
  if ('image_processor_type' in json || 'feature_extractor_type' in json) {
    fail(file, 'image_processor_type', 'is a Hugging Face preprocessor key: this file is a preprocessor_config.json, not a timm config', 'use --preprocess hf:FILE');
  }
  let cfg: Obj = json;
  let prefix = '';
  if ('pretrained_cfg' in json) {
    if (!isObj(json.pretrained_cfg)) fail(file, 'pretrained_cfg', `must be an object, got ${show(json.pretrained_cfg)}`);
    cfg = json.pretrained_cfg;
    prefix = 'pretrained_cfg.';
  }
  const k = (name: string): string => prefix + name;

  // input_size (resolve_data_config: `use_test_size and test_input_size is not None`).
  const sizeKey = options.useTestSize && cfg.test_input_size !== undefined && cfg.test_input_size !== null ? 'test_input_size' : 'input_size';
  const rawSize = cfg[sizeKey];
  if (rawSize === undefined || rawSize === null) {
    fail(
      file,
      k('input_size'),
      "is missing: tfkd needs the model's [channels, height, width], which timm's config.json carries in pretrained_cfg.input_size",
    );
  }
  if (!Array.isArray(rawSize) || rawSize.length !== 3) fail(file, k(sizeKey), `must be [channels, height, width], got ${show(rawSize)}`);
  const C = posInt(rawSize[0], file, `${k(sizeKey)}[0]`);
  const H = posInt(rawSize[1], file, `${k(sizeKey)}[1]`);
  const W = posInt(rawSize[2], file, `${k(sizeKey)}[2]`);
  if (C !== 3 && C !== 1) fail(file, `${k(sizeKey)}[0]`, `is ${C} channels; tfkd feeds RGB (3) or L (1) images`);

  // interpolation, through timm's str_to_interp_mode (a KeyError there for anything else).
  const interpolation = truthy(cfg.interpolation) ? cfg.interpolation : 'bicubic';
  if (interpolation === 'random') {
    fail(file, k('interpolation'), "'random' picks a filter per image (timm's _RANDOM_INTERPOLATION, a training option); an eval transform needs one filter");
  }
  if (typeof interpolation !== 'string' || !(TIMM_INTERPOLATIONS as readonly string[]).includes(interpolation)) {
    fail(file, k('interpolation'), `${show(interpolation)} is not a filter timm's str_to_interp_mode knows (${TIMM_INTERPOLATIONS.join(', ')})`);
  }

  const mean = truthy(cfg.mean) ? channelVector(cfg.mean, C, file, k('mean'), false, false) : IMAGENET_DEFAULT_MEAN.slice(0, C);
  const std = truthy(cfg.std) ? channelVector(cfg.std, C, file, k('std'), true, false) : IMAGENET_DEFAULT_STD.slice(0, C);
  if (!truthy(cfg.mean) && C !== 3) fail(file, k('mean'), `is missing and timm's default (ImageNet, 3 values) does not fit ${C} channel(s)`);
  if (!truthy(cfg.std) && C !== 3) fail(file, k('std'), `is missing and timm's default (ImageNet, 3 values) does not fit ${C} channel(s)`);

  const pctKey = options.useTestSize && truthy(cfg.test_crop_pct) ? 'test_crop_pct' : 'crop_pct';
  const cropPct = truthy(cfg[pctKey]) ? posNumber(cfg[pctKey], file, k(pctKey)) : DEFAULT_CROP_PCT;

  const cropMode = truthy(cfg.crop_mode) ? cfg.crop_mode : DEFAULT_CROP_MODE;
  if (cropMode !== 'center' && cropMode !== 'squash' && cropMode !== 'border') {
    fail(file, k('crop_mode'), `${show(cropMode)} is not one of timm's eval crop modes (center, squash, border)`);
  }

  // transforms_imagenet_eval: scale_size = tuple(math.floor(x / crop_pct) for x in img_size).
  const sH = Math.floor(H / cropPct);
  const sW = Math.floor(W / cropPct);
  if (sH < 1 || sW < 1) fail(file, k(pctKey), `${cropPct} makes timm's scale size ${sH}x${sW}, which is empty`);

  let resize: number | [number, number];
  if (cropMode === 'border') {
    // ResizeKeepRatio(longest=1.0) fits the *longer* side to the scale box with Python round(),
    // then CenterCropOrPad pads with round(255·mean): neither step is a tfkd key.
    fail(
      file,
      k('crop_mode'),
      "'border' (timm's ResizeKeepRatio(longest=1) then CenterCropOrPad with fill round(255·mean)) fits the longer side and pads with the mean colour; tfkd does not support it yet",
    );
  } else if (cropMode === 'squash') {
    resize = [sH, sW];
  } else if (sH === sW) {
    resize = sH;
  } else {
    // ResizeKeepRatio(scale_size) (longest=0): ratio = min(h/sH, w/sW), size = round(h/ratio),
    // round(w/ratio), bilinear whatever the cfg says: neither a shorter-side resize nor a warp.
    fail(
      file,
      k('crop_mode'),
      `'center' with ${k(sizeKey)} ${H}x${W} (scale size ${sH}x${sW}, not square) uses timm's ResizeKeepRatio, which tfkd does not support yet`,
    );
  }
  return {
    resize,
    crop: square(H, W),
    cropRounding: 'round',
    interpolation: interpolation as Interpolation,
    channels: C === 1 ? 'L' : 'RGB',
    scale: 1 / 255,
    mean,
    std,
    source: `timm:${file}`,
  };
}
