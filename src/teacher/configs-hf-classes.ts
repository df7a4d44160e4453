/**
 * The Hugging Face image processor classes configs-hf.ts resolves, as a table keyed by class: each
 * class's resize / crop / normalize rule and its defaults under transformers 4 and 5, the classes
 * refused by name, and the keys no tfkd key can express.
 */
import type { Interpolation } from '../data/image.js';
import { IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, isObj } from './configs-common.js';

// transformers/image_utils.py (same values as timm's IMAGENET_INCEPTION_* and OPENAI_CLIP_*)
const IMAGENET_STANDARD_MEAN = [0.5, 0.5, 0.5];
const IMAGENET_STANDARD_STD = [0.5, 0.5, 0.5];
const OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

/** PIL.Image.Resampling values, which HF configs store as `resample`. */
export const PIL_RESAMPLE: Record<number, Interpolation> = { 0: 'nearest', 1: 'lanczos', 2: 'bilinear', 3: 'bicubic', 4: 'box', 5: 'hamming' };

/** A resolved get_size_dict result (image_processing_utils.py VALID_SIZE_DICT_KEYS). */
export type SizeDict = { height: number; width: number } | { shortest_edge: number };

/** A default that transformers 4 (`image_processing_<m>.py`) and 5 (`image_processing_pil_<m>.py`) disagree on. */
interface Split<T> {
  v4: T;
  v5: T;
}
export type Def<T> = T | Split<T>;
export const isSplit = <T>(d: Def<T>): d is Split<T> => isObj(d) && 'v4' in d && 'v5' in d;

export interface HfClass {
  /**
   * How `size` is used by the class's resize:
   *  'warp'      resize to size.height × size.width (4.x raises on shortest_edge; 5.x would resize
   *              the shorter side: the versions disagree, so shortest_edge is refused);
   *  'either'    CLIP's resize, "Copied from" by Bit and MobileNetV2: shortest_edge → shorter side
   *              (get_resize_output_image_size, default_to_square=False), height/width → warp;
   *  'shortest'  shortest_edge only (MobileViT 4.x raises on height/width);
   *  'convnext'  ConvNextImageProcessor.resize with crop_pct (configs-hf.ts convnextResize).
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
export type Rules = Pick<HfClass, 'resize' | 'squareInt' | 'crop' | 'normalize' | 'efficientnet' | 'flip'>;
/** Unknown classes: BaseImageProcessor / PilBackend._preprocess steps, sizes read as written. */
export const BASE_CLASS_RULES: Rules = { resize: 'either', squareInt: true, crop: 'step', normalize: true };
/** ConvNextImageProcessor: `crop_pct if crop_pct is not None else 224 / 256` (both versions). */
export const CONVNEXT_CROP_PCT = 224 / 256;

export const HW = (n: number): SizeDict => ({ height: n, width: n });
export const SE = (n: number): SizeDict => ({ shortest_edge: n });

/**
 * The classes whose defaults we read (4.x __init__ defaults and 5.x PIL-backend class attributes).
 * Swin, ViT-MAE, DINO v1, ... use ViTImageProcessor; ResNet, RegNet, VAN, CvT use ConvNext's;
 * DINOv2 and FocalNet use Bit's (models/auto/image_processing_auto.py IMAGE_PROCESSOR_MAPPING_NAMES).
 */
export const HF_CLASSES: Record<string, HfClass> = {
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
export const HF_UNSUPPORTED: Record<string, string> = {
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
export const HF_UNMAPPABLE_KEYS: Array<[string, string]> = [
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
