/**
 * `--preprocess hf:FILE`: a Hugging Face `preprocessor_config.json` → the eval transform's spec, as
 * the image processor class it names would apply it under transformers 4 and 5 alike (sources in
 * configs.ts's header); what the two versions disagree on, or tfkd's keys cannot express, is refused.
 */
import type { Interpolation } from '../data/image.js';
import { bool, channelVector, fail, isObj, posNumber, posInt, show, square, truthy, type EcosystemPreprocess, type Obj } from './configs-common.js';
import {
  BASE_CLASS_RULES,
  CONVNEXT_CROP_PCT,
  HF_CLASSES,
  HF_UNMAPPABLE_KEYS,
  HF_UNSUPPORTED,
  HW,
  isSplit,
  PIL_RESAMPLE,
  SE,
  type Def,
  type HfClass,
  type Rules,
  type SizeDict,
} from './configs-hf-classes.js';

/**
 * A Hugging Face `preprocessor_config.json` → the PIL-backend eval transform's spec.
 *
 * The class (processorClass) picks the rules and defaults (configs-hf-classes.ts HF_CLASSES); a
 * `Fast` or `Pil` suffix names the same recipe in another backend (the torchvision backend resizes
 * uint8 tensors with torchvision's antialiased kernels, not PIL's; tfkd reproduces PIL,
 * image_transforms.py resize → `PIL.Image.resize(..., reducing_gap=None)`).
 * Steps (4.x `preprocess`, 5.x `PilBackend._preprocess`), one function each below with its rule:
 * resize → center crop → rescale → normalize, then MobileViT's channel flip.
 * do_convert_rgb only matters for non-RGB sources: the spec always feeds 3 channels, RGB (PIL
 * convert('RGB'), which is what convert_to_rgb does).
 * Unknown classes are resolved with the base-class steps only when the file spells out every key
 * they need (do_resize, size as a dict, resample, do_center_crop, crop_size, do_rescale,
 * rescale_factor, do_normalize, image_mean, image_std); known exotic classes are refused by name.
 */
export function hfPreprocess(json: unknown, file: string): EcosystemPreprocess {
  const keys = processorClass(json, file);
  const rules = keys.known ?? BASE_CLASS_RULES;
  const squareInt = intSizeIsSquare(keys, rules);
  const resize = keys.flag('do_resize', () => true) ? resizeStep(keys, rules, squareInt) : {};
  if (rules.flip && truthy(keys.json.use_square_size)) {
    fail(file, 'use_square_size', `makes ${keys.base}'s int size a square, which its transformers 4 resize then rejects`);
  }
  const crop = centerCropStep(keys, rules);
  const { scale, offset } = rescaleStep(keys, rules);
  const { mean, std } = normalizeStep(keys, rules, offset);
  const channels = rules.flip && keys.bool('do_flip_channel_order') !== false ? 'BGR' : 'RGB';
  return { channels, ...resize, ...crop, scale, mean, std, source: `hf:${file}` };
}

/**
 * A config's keys, read with the defaults of its class (`known`, absent for a class tfkd does not
 * know): the file's value, else the class default; refused when no class is known (the base-class
 * steps then need every key spelled out) or when transformers 4 and 5 disagree on the default.
 */
class HfKeys {
  constructor(
    readonly json: Obj,
    readonly file: string,
    /** The class as the file names it, and without its Fast / Pil suffix. */
    readonly name: string,
    readonly base: string,
    readonly known: HfClass | undefined,
  ) {}

  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  pick<T>(key: string, def: (c: HfClass) => Def<T> | undefined): unknown {
    if (this.has(key)) return this.json[key];
    const d = this.known ? def(this.known) : undefined;
    if (d === undefined) {
      fail(this.file, key, `is missing and ${this.name} is not a class whose defaults tfkd knows; add the key with the value the class uses`);
    }
    if (isSplit(d)) {
      fail(this.file, key, `is missing and ${this.base} defaults it differently in transformers 4 (${show(d.v4)}) and 5 (${show(d.v5)}); add it to the file`);
    }
    return d;
  }

  /** A do_* switch: the file's boolean, else the class default. */
  flag(key: string, def: (c: HfClass) => Def<boolean> | undefined): boolean {
    return bool(this.pick(key, def), this.file, key) === true;
  }

  /** An optional boolean key with no class default (undefined when absent). */
  bool(key: string): boolean | undefined {
    return bool(this.json[key], this.file, key);
  }
}

/**
 * The processor class: `image_processor_type`, else `feature_extractor_type` with FeatureExtractor →
 * ImageProcessor (models/auto/image_processing_auto.py AutoImageProcessor.from_pretrained). Refuses
 * what is not a preprocessor config (a timm file, remote code), keys announcing a step no tfkd key
 * expresses, and the classes HF_UNSUPPORTED names.
 */
function processorClass(json: unknown, file: string): HfKeys {
  if (!isObj(json)) fail(file, '(top level)', `must be a JSON object (a preprocessor_config.json), got ${show(json)}`);
  if ('pretrained_cfg' in json || ('input_size' in json && 'crop_pct' in json && !('image_processor_type' in json))) {
    fail(file, 'pretrained_cfg', 'is a timm key: this file is a timm config.json, not a Hugging Face preprocessor config', 'use --preprocess timm:FILE');
  }
  const auto = json.auto_map;
  if (isObj(auto) && ('AutoImageProcessor' in auto || 'AutoFeatureExtractor' in auto)) {
    fail(file, 'auto_map', 'names remote code (trust_remote_code), whose transform tfkd cannot know');
  }
  let typeKey = 'image_processor_type';
  let name = json.image_processor_type;
  if (name === undefined || name === null) {
    typeKey = 'feature_extractor_type';
    name = json.feature_extractor_type;
    if (typeof name === 'string') name = name.replace('FeatureExtractor', 'ImageProcessor');
  }
  if (name === undefined || name === null) {
    fail(
      file,
      'image_processor_type',
      "is missing (and so is feature_extractor_type): tfkd picks the processor class from it; transformers would fall back to the model's config.json model_type, which tfkd does not read",
    );
  }
  if (typeof name !== 'string') fail(file, typeKey, `must be a class name, got ${show(name)}`);
  const base = name.replace(/(Fast|Pil)$/, '');
  for (const [key, what] of HF_UNMAPPABLE_KEYS) {
    if (truthy(json[key])) fail(file, key, `is set, so ${base} ${what}, which tfkd's preprocessing keys cannot express`);
  }
  if (base in HF_UNSUPPORTED) fail(file, typeKey, `${name} ${HF_UNSUPPORTED[base]}; tfkd's preprocessing keys cannot express it`);
  return new HfKeys(json, file, name, base, HF_CLASSES[base]);
}

/**
 * Whether an int `size` is a square (else a shortest edge): the class's default_to_square.
 * transformers 5 also saves (and reads) a `default_to_square` key, which 4.x's processors ignore.
 */
function intSizeIsSquare(keys: HfKeys, rules: Rules): boolean {
  const { file, base, known } = keys;
  const dts = keys.bool('default_to_square');
  const size = keys.json.size;
  if (typeof size !== 'number') return rules.squareInt;
  if (dts !== undefined && known && dts !== known.squareInt) {
    fail(file, 'default_to_square', `is ${dts}: transformers 5 reads the int size with it, 4's ${base} ignores it (${known.squareInt}); write size as a dict`);
  }
  if (dts === undefined && !known) {
    fail(file, 'size', `is the int ${size} and ${keys.name} is not a class tfkd knows, so whether it means a square or a shortest edge is unknown; write {"height": h, "width": w} or {"shortest_edge": s}`);
  }
  return dts ?? rules.squareInt;
}

type ResizeParts = Pick<EcosystemPreprocess, 'interpolation' | 'resize' | 'crop' | 'cropRounding'>;

/** do_resize: `size` through get_size_dict (null keys take the class default), the filter, the class's resize rule. */
function resizeStep(keys: HfKeys, rules: Rules, squareInt: boolean): ResizeParts {
  const size = sizeDict(keys.pick('size', (c) => c.size), squareInt, keys.file, 'size', keys.base);
  return { interpolation: resampleFilter(keys), ...RESIZE_RULES[rules.resize](size, keys) };
}

/** `resample` is a PIL enum int: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming. */
function resampleFilter(keys: HfKeys): Interpolation {
  const resample = keys.pick('resample', (c) => c.resample);
  if (typeof resample !== 'number' || !(resample in PIL_RESAMPLE)) {
    fail(keys.file, 'resample', `${show(resample)} is not a PIL resampling filter (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)`);
  }
  return PIL_RESAMPLE[resample];
}

/** How each class uses `size` (HfClass.resize, which documents the rules). */
const RESIZE_RULES: Record<HfClass['resize'], (size: SizeDict, keys: HfKeys) => ResizeParts> = {
  warp: (size, { file, base }) => {
    if ('shortest_edge' in size) {
      fail(file, 'size.shortest_edge', `${base} resizes to size.height × size.width: transformers 4 raises on shortest_edge and 5 resizes the shorter side; write the size you mean as {"height", "width"}`);
    }
    return { resize: [size.height, size.width] };
  },
  either: (size) => ({ resize: 'shortest_edge' in size ? size.shortest_edge : [size.height, size.width] }),
  shortest: (size, { file, base }) => {
    if (!('shortest_edge' in size)) fail(file, 'size', `${base} needs size.shortest_edge (its transformers 4 resize raises on height/width)`);
    return { resize: size.shortest_edge };
  },
  convnext: convnextResize,
};

/**
 * ConvNextImageProcessor.resize (also ResNet, RegNet, VAN, CvT), with shortest_edge s: s < 384 →
 * shorter side to int(s / crop_pct) (get_resize_output_image_size) then center_crop(s, s), whose
 * top = (H − h) // 2 → 'floor'; s ≥ 384 → a warp to s × s and no crop.
 */
function convnextResize(size: SizeDict, keys: HfKeys): ResizeParts {
  const { file, base, json } = keys;
  if (!('shortest_edge' in size)) {
    fail(file, 'size', `${base} needs size.shortest_edge (ConvNextImageProcessor.resize raises on ${show(json.size)})`);
  }
  const s = size.shortest_edge;
  if (s >= 384) return { resize: [s, s] };
  const cropPct = keys.has('crop_pct') ? posNumber(json.crop_pct, file, 'crop_pct') : CONVNEXT_CROP_PCT;
  const r = Math.floor(s / cropPct); // Python int() of a positive float
  if (r < 1) fail(file, 'crop_pct', `${cropPct} makes the resize int(${s} / crop_pct) = ${r}, which is empty`);
  return { resize: r, crop: s, cropRounding: 'floor' };
}

/** The center crop: image_transforms.py center_crop, top = (H − h) // 2 → cropRounding 'floor'. */
function centerCropStep(keys: HfKeys, rules: Rules): Pick<EcosystemPreprocess, 'crop' | 'cropRounding'> {
  const { file, base, json } = keys;
  if (rules.crop === 'v5-only') {
    if (keys.bool('do_center_crop') === true) {
      fail(file, 'do_center_crop', `is true: transformers 4's ${base} ignores it and 5 crops to crop_size; set it to false or remove it`);
    }
    return {};
  }
  if (rules.crop === 'never' || !keys.flag('do_center_crop', (c) => c.doCenterCrop)) return {};
  const c = sizeDict(keys.pick('crop_size', (k) => k.cropSize), true, file, 'crop_size', base);
  if (!('height' in c)) fail(file, 'crop_size', `must be {height, width} or an int (center_crop), got ${show(json.crop_size)}`);
  return { crop: square(c.height, c.width), cropRounding: 'floor' };
}

/**
 * do_rescale: x · rescale_factor (default 1/255). EfficientNet's rescale_offset subtracts 1 after
 * (`image * scale - 1`), returned as the `offset` normalizeStep adds to the mean.
 */
function rescaleStep(keys: HfKeys, rules: Rules): { scale: number; offset: number } {
  const doRescale = keys.flag('do_rescale', () => true);
  const scale = doRescale ? posNumber(keys.pick('rescale_factor', () => 1 / 255), keys.file, 'rescale_factor') : 1;
  const offset = rules.efficientnet && doRescale && keys.bool('rescale_offset') === true ? 1 : 0;
  return { scale, offset };
}

/**
 * do_normalize: (x − mean) / std (MobileViT never normalizes). EfficientNet's include_top divides by
 * std once more (normalize(mean=0, std)) → std' = std² (std when do_normalize is off); the rescale
 * offset makes mean' = offset + mean.
 */
function normalizeStep(keys: HfKeys, rules: Rules, offset: number): { mean: number[]; std: number[] } {
  const { file } = keys;
  const C = 3;
  let mean = [0, 0, 0];
  let std = [1, 1, 1];
  if (rules.normalize) {
    const doNormalize = keys.flag('do_normalize', () => true);
    const includeTop = rules.efficientnet === true && keys.bool('include_top') !== false;
    const s = doNormalize || includeTop ? channelVector(keys.pick('image_std', (c) => c.std), C, file, 'image_std', true, true) : std;
    if (doNormalize) {
      mean = channelVector(keys.pick('image_mean', (c) => c.mean), C, file, 'image_mean', false, true);
      std = s;
    }
    if (includeTop) std = std.map((x, i) => x * s[i]);
  }
  return { mean: mean.map((m) => m + offset), std };
}

/**
 * transformers image_processing_utils.py get_size_dict / convert_to_size_dict: an int becomes
 * {height, width} (default_to_square) or {shortest_edge}; a [h, w] list becomes {height, width};
 * a dict must have exactly one of the valid key sets. Null-valued keys are dropped (4.x CLIP and
 * 5.x SizeDict both treat them as absent). Sets other than {height, width} / {shortest_edge} are
 * returned as the refusal they need.
 */
function sizeDict(v: unknown, defaultToSquare: boolean, file: string, key: string, cls: string): SizeDict {
  if (typeof v === 'number') {
    const n = posInt(v, file, key);
    return defaultToSquare ? HW(n) : SE(n);
  }
  if (Array.isArray(v)) {
    if (v.length !== 2) fail(file, key, `must be an int, [height, width] or a size dict, got ${show(v)}`);
    return { height: posInt(v[0], file, `${key}[0]`), width: posInt(v[1], file, `${key}[1]`) };
  }
  if (!isObj(v)) fail(file, key, `must be an int, [height, width] or a size dict, got ${show(v)}`);
  const keys = Object.keys(v).filter((x) => v[x] !== null && v[x] !== undefined).sort().join(',');
  if (keys === 'height,width') return { height: posInt(v.height, file, `${key}.height`), width: posInt(v.width, file, `${key}.width`) };
  if (keys === 'shortest_edge') return SE(posInt(v.shortest_edge, file, `${key}.shortest_edge`));
  if (keys === 'longest_edge,shortest_edge' || keys === 'longest_edge') {
    fail(file, `${key}.longest_edge`, `caps the longer side (${cls}); tfkd's resize keys cannot express it`);
  }
  if (keys === 'max_height,max_width') fail(file, key, `fits the image inside max_height × max_width (${cls}); tfkd's resize keys cannot express it`);
  fail(file, key, `must have keys {height, width} or {shortest_edge} (get_size_dict), got ${show(v)}`);
}
