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

/** The cfg whose keys are read, and how a refusal spells a key (`pretrained_cfg.` in a Hub config.json). */
interface TimmCfg {
  cfg: Obj;
  file: string;
  key: (name: string) => string;
}

/** The model's input as resolve_data_config picks it; `sizeKey` is the key it came from. */
interface InputSize {
  sizeKey: string;
  C: number;
  H: number;
  W: number;
}

/** crop_pct as resolve_data_config picks it; `pctKey` is the key it came from. */
interface CropPct {
  pctKey: string;
  cropPct: number;
}

type CropMode = 'center' | 'squash' | 'border';

/**
 * A timm `config.json` (as `save_config_for_hf` writes it: `architecture`, `num_classes`,
 * `pretrained_cfg: {...}`) or a bare pretrained cfg (the legacy single-dict form that
 * timm/models/_hub.py `_parse_model_cfg` also accepts) → the eval transform's spec.
 *
 * Resolution follows timm/data/config.py `resolve_data_config(pretrained_cfg=cfg)` (input size,
 * interpolation, mean / std, crop_pct, crop_mode: one function each below, with the rule it
 * reproduces), then timm/data/transforms_factory.py `transforms_imagenet_eval(img_size=input_size[-2:], ...)`:
 * a resize to the scale size (evalResize) → CenterCrop(img_size) → MaybeToTensor (÷255) →
 * Normalize(mean, std). CenterCrop's offsets are int(round((H − h) / 2)) (torchvision center_crop,
 * and timm's center_crop_or_pad) → 'round'.
 * The loader (timm ImageDataset, torchvision ImageFolder) converts images with PIL `convert('RGB')`;
 * an in_chans 1 model gets 'L'.
 */
export function timmPreprocess(json: unknown, file: string, options: TimmOptions = {}): EcosystemPreprocess {
  const c = pretrainedCfg(json, file);
  const useTestSize = options.useTestSize ?? false;
  const size = inputSize(c, useTestSize);
  const interpolation = interpolationOf(c);
  const { mean, std } = normalisation(c, size.C);
  const pct = cropPctOf(c, useTestSize);
  const mode = cropModeOf(c);
  return {
    resize: evalResize(c, size, pct, mode),
    crop: square(size.H, size.W),
    cropRounding: 'round',
    interpolation,
    channels: size.C === 1 ? 'L' : 'RGB',
    scale: 1 / 255,
    mean,
    std,
    source: `timm:${file}`,
  };
}

/** The file's shape: a timm config (not an HF preprocessor config), unwrapped to its pretrained cfg. */
function pretrainedCfg(json: unknown, file: string): TimmCfg {
  if (!isObj(json)) fail(file, '(top level)', `must be a JSON object (a timm config.json or pretrained cfg), got ${show(json)}`);
  if ('image_processor_type' in json || 'feature_extractor_type' in json) {
    fail(file, 'image_processor_type', 'is a Hugging Face preprocessor key: this file is a preprocessor_config.json, not a timm config', 'use --preprocess hf:FILE');
  }
  if (!('pretrained_cfg' in json)) return { cfg: json, file, key: (name) => name };
  if (!isObj(json.pretrained_cfg)) fail(file, 'pretrained_cfg', `must be an object, got ${show(json.pretrained_cfg)}`);
  return { cfg: json.pretrained_cfg, file, key: (name) => `pretrained_cfg.${name}` };
}

/**
 * `test_input_size` if `useTestSize` and present (resolve_data_config: `use_test_size and
 * test_input_size is not None`), else `input_size`. timm would default to (3, 224, 224); every Hub
 * config has it, so its absence means a wrong file: refused.
 */
function inputSize({ cfg, file, key }: TimmCfg, useTestSize: boolean): InputSize {
  const sizeKey = useTestSize && cfg.test_input_size !== undefined && cfg.test_input_size !== null ? 'test_input_size' : 'input_size';
  const rawSize = cfg[sizeKey];
  if (rawSize === undefined || rawSize === null) {
    fail(
      file,
      key('input_size'),
      "is missing: tfkd needs the model's [channels, height, width], which timm's config.json carries in pretrained_cfg.input_size",
    );
  }
  if (!Array.isArray(rawSize) || rawSize.length !== 3) fail(file, key(sizeKey), `must be [channels, height, width], got ${show(rawSize)}`);
  const C = posInt(rawSize[0], file, `${key(sizeKey)}[0]`);
  const H = posInt(rawSize[1], file, `${key(sizeKey)}[1]`);
  const W = posInt(rawSize[2], file, `${key(sizeKey)}[2]`);
  if (C !== 3 && C !== 1) fail(file, `${key(sizeKey)}[0]`, `is ${C} channels; tfkd feeds RGB (3) or L (1) images`);
  return { sizeKey, C, H, W };
}

/**
 * The cfg's interpolation if truthy, else 'bicubic' (resolve_data_config's default, also the
 * PretrainedCfg dataclass default; transforms_imagenet_eval's own 'bilinear' default never applies
 * because resolve_data_config always passes one), through timm's str_to_interp_mode (a KeyError
 * there for anything else).
 */
function interpolationOf({ cfg, file, key }: TimmCfg): Interpolation {
  const interpolation = truthy(cfg.interpolation) ? cfg.interpolation : 'bicubic';
  if (interpolation === 'random') {
    fail(file, key('interpolation'), "'random' picks a filter per image (timm's _RANDOM_INTERPOLATION, a training option); an eval transform needs one filter");
  }
  if (typeof interpolation !== 'string' || !(TIMM_INTERPOLATIONS as readonly string[]).includes(interpolation)) {
    fail(file, key('interpolation'), `${show(interpolation)} is not a filter timm's str_to_interp_mode knows (${TIMM_INTERPOLATIONS.join(', ')})`);
  }
  return interpolation as Interpolation;
}

/** mean / std: the cfg's if truthy, else IMAGENET_DEFAULT_MEAN / _STD (which only fit 3 channels). */
function normalisation({ cfg, file, key }: TimmCfg, C: number): { mean: number[]; std: number[] } {
  const mean = truthy(cfg.mean) ? channelVector(cfg.mean, C, file, key('mean'), false, false) : IMAGENET_DEFAULT_MEAN.slice(0, C);
  const std = truthy(cfg.std) ? channelVector(cfg.std, C, file, key('std'), true, false) : IMAGENET_DEFAULT_STD.slice(0, C);
  if (!truthy(cfg.mean) && C !== 3) fail(file, key('mean'), `is missing and timm's default (ImageNet, 3 values) does not fit ${C} channel(s)`);
  if (!truthy(cfg.std) && C !== 3) fail(file, key('std'), `is missing and timm's default (ImageNet, 3 values) does not fit ${C} channel(s)`);
  return { mean, std };
}

/** `test_crop_pct` if `useTestSize` and truthy, else `crop_pct` if truthy, else DEFAULT_CROP_PCT 0.875. */
function cropPctOf({ cfg, file, key }: TimmCfg, useTestSize: boolean): CropPct {
  const pctKey = useTestSize && truthy(cfg.test_crop_pct) ? 'test_crop_pct' : 'crop_pct';
  const cropPct = truthy(cfg[pctKey]) ? posNumber(cfg[pctKey], file, key(pctKey)) : DEFAULT_CROP_PCT;
  return { pctKey, cropPct };
}

/** The cfg's crop_mode if truthy, else 'center'; transforms_imagenet_eval knows three. */
function cropModeOf({ cfg, file, key }: TimmCfg): CropMode {
  const cropMode = truthy(cfg.crop_mode) ? cfg.crop_mode : DEFAULT_CROP_MODE;
  if (cropMode !== 'center' && cropMode !== 'squash' && cropMode !== 'border') {
    fail(file, key('crop_mode'), `${show(cropMode)} is not one of timm's eval crop modes (center, squash, border)`);
  }
  return cropMode;
}

/**
 * transforms_imagenet_eval's resize: scale_size = tuple(math.floor(x / crop_pct) for x in img_size), then
 *   'squash' → transforms.Resize(scale_size) (a warp);
 *   'center' → scale square: transforms.Resize(scale_size[0]) (shorter side); else
 *              ResizeKeepRatio(scale_size): refused;
 *   'border' → ResizeKeepRatio(scale_size, longest=1) → CenterCropOrPad(img_size, fill=mean·255): refused.
 */
function evalResize({ file, key }: TimmCfg, { sizeKey, H, W }: InputSize, { pctKey, cropPct }: CropPct, mode: CropMode): number | [number, number] {
  const sH = Math.floor(H / cropPct);
  const sW = Math.floor(W / cropPct);
  if (sH < 1 || sW < 1) fail(file, key(pctKey), `${cropPct} makes timm's scale size ${sH}x${sW}, which is empty`);
  if (mode === 'border') {
    // ResizeKeepRatio(longest=1.0) fits the *longer* side to the scale box with Python round(),
    // then CenterCropOrPad pads with round(255·mean): neither step is a tfkd key.
    fail(
      file,
      key('crop_mode'),
      "'border' (timm's ResizeKeepRatio(longest=1) then CenterCropOrPad with fill round(255·mean)) fits the longer side and pads with the mean colour; tfkd does not support it yet",
    );
  }
  if (mode === 'squash') return [sH, sW];
  if (sH === sW) return sH;
  // ResizeKeepRatio(scale_size) (longest=0): ratio = min(h/sH, w/sW), size = round(h/ratio),
  // round(w/ratio), bilinear whatever the cfg says: neither a shorter-side resize nor a warp.
  fail(
    file,
    key('crop_mode'),
    `'center' with ${key(sizeKey)} ${H}x${W} (scale size ${sH}x${sW}, not square) uses timm's ResizeKeepRatio, which tfkd does not support yet`,
  );
}
