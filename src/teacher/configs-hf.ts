/**
 * `--preprocess hf:FILE`: a Hugging Face `preprocessor_config.json` → the eval transform's spec, as
 * the image processor class it names would apply it under transformers 4 and 5 alike (sources in
 * configs.ts's header); what the two versions disagree on, or tfkd's keys cannot express, is refused.
 */
import type { Interpolation } from '../data/image.js';
import { bool, channelVector, fail, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, isObj, posInt, posNumber, show, square, truthy, type EcosystemPreprocess } from './configs-common.js';

// transformers/image_utils.py (same values as timm's IMAGENET_INCEPTION_* and OPENAI_CLIP_*)
const IMAGENET_STANDARD_MEAN = [0.5, 0.5, 0.5];
const IMAGENET_STANDARD_STD = [0.5, 0.5, 0.5];
const OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

/** PIL.Image.Resampling values, which HF configs store as `resample`. */
const PIL_RESAMPLE: Record<number, Interpolation> = { 0: 'nearest', 1: 'lanczos', 2: 'bilinear', 3: 'bicubic', 4: 'box', 5: 'hamming' };

/** A resolved get_size_dict result (image_processing_utils.py VALID_SIZE_DICT_KEYS). */
type SizeDict = { height: number; width: number } | { shortest_edge: number };

/** A default that transformers 4 (`image_processing_<m>.py`) and 5 (`image_processing_pil_<m>.py`) disagree on. */
interface Split<T> {
  v4: T;
  v5: T;
}
type Def<T> = T | Split<T>;
const isSplit = <T>(d: Def<T>): d is Split<T> => isObj(d) && 'v4' in d && 'v5' in d;

interface HfClass {
  /**
   * How `size` is used by the class's resize:
   *  'warp'      resize to size.height × size.width (4.x raises on shortest_edge; 5.x would resize
   *              the shorter side: the versions disagree, so shortest_edge is refused);
   *  'either'    CLIP's resize, "Copied from" by Bit and MobileNetV2: shortest_edge → shorter side
   *              (get_resize_output_image_size, default_to_square=False), height/width → warp;
   *  'shortest'  shortest_edge only (MobileViT 4.x raises on height/width);
   *  'convnext'  ConvNextImageProcessor.resize with crop_pct (see hfPreprocess).
   */
  resize: 'warp' | 'either' | 'shortest' | 'convnext';
  /** get_size_dict's default_to_square for an int `size` (the class's `default_to_square`). */
  squareInt: boolean;
  size: Def<SizeDict>;
  resample: Def<number>;
  /**
   * 'step'     do_center_crop/crop_size are used (default below);
   * 'v5-only'  4.x ignores do_center_crop, 5.x's generic PilBackend._preprocess applies it: refused if true;
   * 'never'    neither version crops (the key is ignored).
   */
  crop: 'step' | 'v5-only' | 'never';
  doCenterCrop?: Def<boolean>;
  cropSize?: Def<SizeDict>;
  normalize: boolean;
  mean: number[];
  std: number[];
  /** EfficientNet's rescale_offset / include_top. */
  efficientnet?: boolean;
  /** MobileViT's do_flip_channel_order (default true → BGR). */
  flip?: boolean;
}

/** The parts of a class that decide the steps (an unknown class gets the base-class steps). */
type Rules = Pick<HfClass, 'resize' | 'squareInt' | 'crop' | 'normalize' | 'efficientnet' | 'flip'>;
/** ConvNextImageProcessor: `crop_pct if crop_pct is not None else 224 / 256` (both versions). */
const CONVNEXT_CROP_PCT = 224 / 256;

const HW = (n: number): SizeDict => ({ height: n, width: n });
const SE = (n: number): SizeDict => ({ shortest_edge: n });

/**
 * The classes whose defaults we read (4.x __init__ defaults and 5.x PIL-backend class attributes).
 * Swin, ViT-MAE, DINO v1, ... use ViTImageProcessor; ResNet, RegNet, VAN, CvT use ConvNext's;
 * DINOv2 and FocalNet use Bit's (models/auto/image_processing_auto.py IMAGE_PROCESSOR_MAPPING_NAMES).
 */
const HF_CLASSES: Record<string, HfClass> = {
  // vit/image_processing_vit.py ViTImageProcessor.__init__ / image_processing_pil_vit.py
  ViTImageProcessor: { resize: 'warp', squareInt: true, size: HW(224), resample: 2, crop: 'v5-only', normalize: true, mean: IMAGENET_STANDARD_MEAN, std: IMAGENET_STANDARD_STD },
  // deit/image_processing_deit.py DeiTImageProcessor.__init__ / image_processing_pil_deit.py
  DeiTImageProcessor: {
    resize: 'warp', squareInt: true, size: HW(256), resample: 3, crop: 'step', doCenterCrop: true, cropSize: HW(224),
    normalize: true, mean: IMAGENET_STANDARD_MEAN, std: IMAGENET_STANDARD_STD,
  },
  // beit/image_processing_beit.py (4.x: 256², crop on) / image_processing_pil_beit.py (5.x: 224², crop off)
  BeitImageProcessor: {
    resize: 'warp', squareInt: true, size: { v4: HW(256), v5: HW(224) }, resample: 3, crop: 'step',
    doCenterCrop: { v4: true, v5: false }, cropSize: HW(224), normalize: true, mean: IMAGENET_STANDARD_MEAN, std: IMAGENET_STANDARD_STD,
  },
  // convnext/image_processing_convnext.py ConvNextImageProcessor / image_processing_pil_convnext.py
  ConvNextImageProcessor: {
    resize: 'convnext', squareInt: false, size: SE(384), resample: 3, crop: 'v5-only', normalize: true,
    mean: IMAGENET_STANDARD_MEAN, std: IMAGENET_STANDARD_STD,
  },
  // clip/image_processing_clip.py CLIPImageProcessor / image_processing_pil_clip.py
  CLIPImageProcessor: {
    resize: 'either', squareInt: false, size: SE(224), resample: 3, crop: 'step', doCenterCrop: true, cropSize: HW(224),
    normalize: true, mean: OPENAI_CLIP_MEAN, std: OPENAI_CLIP_STD,
  },
  // bit/image_processing_bit.py BitImageProcessor / image_processing_pil_bit.py
  BitImageProcessor: {
    resize: 'either', squareInt: false, size: SE(224), resample: 3, crop: 'step', doCenterCrop: true, cropSize: HW(224),
    normalize: true, mean: OPENAI_CLIP_MEAN, std: OPENAI_CLIP_STD,
  },
  // mobilenet_v2/image_processing_mobilenet_v2.py / image_processing_pil_mobilenet_v2.py
  MobileNetV2ImageProcessor: {
    resize: 'either', squareInt: false, size: SE(256), resample: 2, crop: 'step', doCenterCrop: true, cropSize: HW(224),
    normalize: true, mean: IMAGENET_STANDARD_MEAN, std: IMAGENET_STANDARD_STD,
  },
  // efficientnet/image_processing_efficientnet.py (4.x resample NEAREST) / image_processing_pil_efficientnet.py (5.x BICUBIC)
  EfficientNetImageProcessor: {
    resize: 'warp', squareInt: true, size: HW(346), resample: { v4: 0, v5: 3 }, crop: 'step', doCenterCrop: false, cropSize: HW(289),
    normalize: true, mean: IMAGENET_STANDARD_MEAN, std: IMAGENET_STANDARD_STD, efficientnet: true,
  },
  // segformer/image_processing_segformer.py / image_processing_pil_segformer.py: no crop step in either
  SegformerImageProcessor: { resize: 'warp', squareInt: true, size: HW(512), resample: 2, crop: 'never', normalize: true, mean: IMAGENET_DEFAULT_MEAN, std: IMAGENET_DEFAULT_STD },
  // mobilevit/image_processing_mobilevit.py (4.x BILINEAR) / image_processing_pil_mobilevit.py (5.x BICUBIC):
  // resize → crop → rescale → flip to BGR, never normalizes.
  MobileViTImageProcessor: {
    resize: 'shortest', squareInt: false, size: SE(224), resample: { v4: 2, v5: 3 }, crop: 'step', doCenterCrop: true, cropSize: HW(256),
    normalize: false, mean: [0, 0, 0], std: [1, 1, 1], flip: true,
  },
};

/** Known classes whose transform is not a resize + center crop + affine: refused by name. */
const HF_UNSUPPORTED: Record<string, string> = {
  DetrImageProcessor: 'resizes to shortest_edge with a longest_edge cap and pads the batch',
  ConditionalDetrImageProcessor: 'resizes to shortest_edge with a longest_edge cap and pads the batch',
  DeformableDetrImageProcessor: 'resizes to shortest_edge with a longest_edge cap and pads the batch',
  YolosImageProcessor: 'resizes to shortest_edge with a longest_edge cap and pads the batch',
  GroundingDinoImageProcessor: 'resizes to shortest_edge with a longest_edge cap and pads the batch',
  RTDetrImageProcessor: 'is an object-detection processor (annotations, padding)',
  DonutImageProcessor: 'thumbnails and pads (do_thumbnail, do_pad)',
  NougatImageProcessor: 'crops margins, thumbnails and pads',
  SamImageProcessor: 'resizes the longest edge and pads to a square',
  Owlv2ImageProcessor: 'pads to a square before resizing',
  DPTImageProcessor: 'keeps the aspect ratio to a multiple of ensure_multiple_of',
  GLPNImageProcessor: 'rounds sizes down to a multiple of size_divisor',
  Swin2SRImageProcessor: 'pads to a multiple of the window size',
  PerceiverImageProcessor: 'center-crops before it resizes',
  LevitImageProcessor: "resizes the shorter side to int(256/224 · shortest_edge), a rule tfkd has not checked yet",
  PoolFormerImageProcessor: 'has its own crop_pct rule, which tfkd has not checked yet',
  ImageGPTImageProcessor: 'maps pixels to color clusters',
  LlavaNextImageProcessor: 'tiles the image (image_grid_pinpoints)',
  LlavaOnevisionImageProcessor: 'tiles the image (image_grid_pinpoints)',
  Idefics2ImageProcessor: 'splits and pads images',
  Idefics3ImageProcessor: 'splits and pads images',
  Qwen2VLImageProcessor: 'resizes to a pixel budget (min_pixels/max_pixels) and patchifies',
  Pix2StructImageProcessor: 'extracts variable patches',
  FuyuImageProcessor: 'pads and patchifies',
  VideoMAEImageProcessor: 'processes videos',
};

/** Keys that announce a step none of tfkd's keys express (checked for every class). */
const HF_UNMAPPABLE_KEYS: Array<[string, string]> = [
  ['do_pad', 'pads the image (to pad_size or the batch maximum)'],
  ['do_thumbnail', 'thumbnails the image'],
  ['do_crop_margin', 'crops margins'],
  ['do_align_long_axis', 'rotates images'],
  ['keep_aspect_ratio', 'keeps the aspect ratio to a multiple of ensure_multiple_of'],
  ['image_grid_pinpoints', 'tiles the image'],
  ['do_image_splitting', 'splits the image'],
  ['size_divisor', 'rounds sizes to a multiple of size_divisor'],
  ['size_divisibility', 'rounds sizes to a multiple of size_divisibility'],
];

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

/**
 * A Hugging Face `preprocessor_config.json` → the PIL-backend eval transform's spec.
 *
 * Class: `image_processor_type`, else `feature_extractor_type` with FeatureExtractor → ImageProcessor
 * (models/auto/image_processing_auto.py AutoImageProcessor.from_pretrained); a `Fast` or `Pil` suffix
 * names the same recipe in another backend (the torchvision backend resizes uint8 tensors with
 * torchvision's antialiased kernels, not PIL's; tfkd reproduces PIL, image_transforms.py resize →
 * `PIL.Image.resize(..., reducing_gap=None)`).
 * Steps (4.x `preprocess`, 5.x `PilBackend._preprocess`): resize → center crop → rescale → normalize.
 *   size          get_size_dict with the class's default_to_square; null keys take the class default;
 *   resample      PIL enum int: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming;
 *   center crop   image_transforms.py center_crop: top = (H − h) // 2 → cropRounding 'floor';
 *   rescale       x · rescale_factor (default 1/255) when do_rescale; normalize (x − mean) / std.
 *   ConvNext (also ResNet, RegNet, VAN, CvT): ConvNextImageProcessor.resize, with shortest_edge s:
 *                 s < 384 → shorter side to int(s / crop_pct) (get_resize_output_image_size) then
 *                 center_crop(s, s); s ≥ 384 → a warp to s × s and no crop.
 *   EfficientNet: rescale subtracts 1 when rescale_offset (`image * scale - 1`), and include_top
 *                 divides by std once more (normalize(mean=0, std)) → mean' = offset + mean,
 *                 std' = std² (std when do_normalize is off).
 *   MobileViT:    never normalizes; do_flip_channel_order (default true) → channels 'BGR'.
 * do_convert_rgb only matters for non-RGB sources: the spec always feeds 3 channels, RGB (PIL
 * convert('RGB'), which is what convert_to_rgb does).
 * Unknown classes are resolved with the base-class steps only when the file spells out every key
 * they need (do_resize, size as a dict, resample, do_center_crop, crop_size, do_rescale,
 * rescale_factor, do_normalize, image_mean, image_std); known exotic classes are refused by name.
 */
export function hfPreprocess(json: unknown, file: string): EcosystemPreprocess {
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

  const known: HfClass | undefined = HF_CLASSES[base];
  const has = (key: string): boolean => json[key] !== undefined && json[key] !== null;
  /**
   * The file's value, else the class default; refused when no class is known (the base-class steps
   * then need every key spelled out) or when transformers 4 and 5 disagree on the default.
   */
  const pick = <T>(key: string, def: (c: HfClass) => Def<T> | undefined): unknown => {
    if (has(key)) return json[key];
    const d = known ? def(known) : undefined;
    if (d === undefined) {
      fail(file, key, `is missing and ${name} is not a class whose defaults tfkd knows; add the key with the value the class uses`);
    }
    if (isSplit(d)) {
      fail(file, key, `is missing and ${base} defaults it differently in transformers 4 (${show(d.v4)}) and 5 (${show(d.v5)}); add it to the file`);
    }
    return d;
  };
  const flag = (key: string, def: (c: HfClass) => Def<boolean> | undefined): boolean => bool(pick(key, def), file, key) === true;
  // Unknown classes: BaseImageProcessor / PilBackend._preprocess steps, sizes read as written.
  const rules: Rules = known ?? { resize: 'either', squareInt: true, crop: 'step', normalize: true };
  // An int `size` is a square or a shortest edge by the class's default_to_square; transformers 5
  // also saves (and reads) a `default_to_square` key, which 4.x's processors ignore.
  let squareInt = rules.squareInt;
  const dts = bool(json.default_to_square, file, 'default_to_square');
  if (typeof json.size === 'number') {
    if (dts !== undefined && known && dts !== known.squareInt) {
      fail(file, 'default_to_square', `is ${dts}: transformers 5 reads the int size with it, 4's ${base} ignores it (${known.squareInt}); write size as a dict`);
    }
    if (dts === undefined && !known) {
      fail(file, 'size', `is the int ${json.size} and ${name} is not a class tfkd knows, so whether it means a square or a shortest edge is unknown; write {"height": h, "width": w} or {"shortest_edge": s}`);
    }
    if (dts !== undefined) squareInt = dts;
  }

  const out: EcosystemPreprocess = { channels: 'RGB' };

  // --- resize (and ConvNext's crop inside it)
  if (flag('do_resize', () => true)) {
    const size = sizeDict(pick('size', (c) => c.size), squareInt, file, 'size', base);
    const resample = pick('resample', (c) => c.resample);
    if (typeof resample !== 'number' || !(resample in PIL_RESAMPLE)) {
      fail(file, 'resample', `${show(resample)} is not a PIL resampling filter (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)`);
    }
    out.interpolation = PIL_RESAMPLE[resample];
    if (rules.resize === 'convnext') {
      if (!('shortest_edge' in size)) {
        fail(file, 'size', `${base} needs size.shortest_edge (ConvNextImageProcessor.resize raises on ${show(json.size)})`);
      }
      const s = size.shortest_edge;
      if (s < 384) {
        const cropPct = has('crop_pct') ? posNumber(json.crop_pct, file, 'crop_pct') : CONVNEXT_CROP_PCT;
        const r = Math.floor(s / cropPct); // Python int() of a positive float
        if (r < 1) fail(file, 'crop_pct', `${cropPct} makes the resize int(${s} / crop_pct) = ${r}, which is empty`);
        out.resize = r;
        out.crop = s;
        out.cropRounding = 'floor';
      } else {
        out.resize = [s, s];
      }
    } else if ('shortest_edge' in size) {
      if (rules.resize === 'warp') {
        fail(file, 'size.shortest_edge', `${base} resizes to size.height × size.width: transformers 4 raises on shortest_edge and 5 resizes the shorter side; write the size you mean as {"height", "width"}`);
      }
      out.resize = size.shortest_edge;
    } else {
      if (rules.resize === 'shortest') fail(file, 'size', `${base} needs size.shortest_edge (its transformers 4 resize raises on height/width)`);
      out.resize = [size.height, size.width];
    }
  }
  if (rules.flip && truthy(json.use_square_size)) {
    fail(file, 'use_square_size', `makes ${base}'s int size a square, which its transformers 4 resize then rejects`);
  }

  // --- center crop
  if (rules.crop === 'v5-only') {
    if (bool(json.do_center_crop, file, 'do_center_crop') === true) {
      fail(file, 'do_center_crop', `is true: transformers 4's ${base} ignores it and 5 crops to crop_size; set it to false or remove it`);
    }
  } else if (rules.crop === 'step') {
    if (flag('do_center_crop', (c) => c.doCenterCrop)) {
      const c = sizeDict(pick('crop_size', (k) => k.cropSize), true, file, 'crop_size', base);
      if (!('height' in c)) fail(file, 'crop_size', `must be {height, width} or an int (center_crop), got ${show(json.crop_size)}`);
      out.crop = square(c.height, c.width);
      out.cropRounding = 'floor';
    }
  }

  // --- rescale
  const doRescale = flag('do_rescale', () => true);
  out.scale = doRescale ? posNumber(pick('rescale_factor', () => 1 / 255), file, 'rescale_factor') : 1;
  let offset = 0;
  if (rules.efficientnet && doRescale && bool(json.rescale_offset, file, 'rescale_offset') === true) offset = 1;

  // --- normalize (and EfficientNet's include_top second division)
  const C = 3;
  let mean = [0, 0, 0];
  let std = [1, 1, 1];
  if (rules.normalize) {
    const doNormalize = flag('do_normalize', () => true);
    const includeTop = rules.efficientnet === true && bool(json.include_top, file, 'include_top') !== false;
    const s = doNormalize || includeTop ? channelVector(pick('image_std', (c) => c.std), C, file, 'image_std', true, true) : std;
    if (doNormalize) {
      mean = channelVector(pick('image_mean', (c) => c.mean), C, file, 'image_mean', false, true);
      std = s;
    }
    if (includeTop) std = std.map((x, i) => x * s[i]);
  }
  out.mean = mean.map((m) => m + offset);
  out.std = std;
  if (rules.flip && bool(json.do_flip_channel_order, file, 'do_flip_channel_order') !== false) out.channels = 'BGR';
  out.source = `hf:${file}`;
  return out;
}
