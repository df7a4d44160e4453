/**
 * timm / Hugging Face configs → tfkd preprocessing specs.
 *
 * The fixtures are the configs as the Hub ships them for the named models, written out inline: the
 * timm ones from the model's default cfg in timm/models/<family>.py as `save_config_for_hf` writes
 * it (filter_pretrained_cfg drops nulls and source keys; the keys all four share are written once,
 * in TIMM_IN1K), the Hugging Face ones as stored in each repo's preprocessor_config.json (older
 * repos still say feature_extractor_type). Expected values are derived by hand from the library
 * code cited in src/teacher/configs.ts.
 */
import { expect } from 'chai';
import { UsageError } from '../../src/errors.js';
import { IMAGENET_PRESET } from '../../src/teacher/configs.js';
import { hfPreprocess } from '../../src/teacher/configs-hf.js';
import { timmPreprocess } from '../../src/teacher/configs-timm.js';
import { type EcosystemPreprocess } from '../../src/teacher/configs-common.js';

const IN_MEAN = [0.485, 0.456, 0.406];
const IN_STD = [0.229, 0.224, 0.225];
const HALF = [0.5, 0.5, 0.5];
const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

/** EXPECTED FAILURE: a UsageError on one line that names the file and the key. */
function refused(fn: () => unknown, file: string, key: string, also?: RegExp): UsageError {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(UsageError);
    const msg = (e as Error).message;
    expect(msg).not.to.contain('\n');
    expect(msg.startsWith(`${file}: ${key} `), msg).to.equal(true);
    if (also) expect(msg).to.match(also);
    return e as UsageError;
  }
  throw new Error(`expected a UsageError naming ${file} and ${key}`);
}

/** A Hub timm config.json around a pretrained cfg. */
function timmHub(architecture: string, numFeatures: number, pretrained: Record<string, unknown>, globalPool = 'avg'): Record<string, unknown> {
  return { architecture, num_classes: 1000, num_features: numFeatures, global_pool: globalPool, pretrained_cfg: pretrained };
}

/** What the four timm cfgs below have in common (the ImageNet-1k defaults of each family's `_cfg`). */
const TIMM_IN1K = {
  custom_load: false,
  input_size: [3, 224, 224],
  fixed_input_size: false,
  interpolation: 'bicubic',
  crop_mode: 'center',
  mean: IN_MEAN,
  std: IN_STD,
  num_classes: 1000,
  pool_size: [7, 7],
  license: 'apache-2.0',
};

// Each fixture: TIMM_IN1K and what the model's own cfg sets.
// timm/models/resnet.py: 'resnet50.a1_in1k': _rcfg(hf_hub_id='timm/', ...)
const RESNET50_A1 = timmHub('resnet50', 2048, {
  ...TIMM_IN1K, tag: 'a1_in1k', crop_pct: 0.95, test_input_size: [3, 288, 288], test_crop_pct: 1.0, first_conv: 'conv1', classifier: 'fc',
  origin_url: 'https://github.com/huggingface/pytorch-image-models', paper_ids: 'arXiv:2110.00476',
});

// timm/models/vision_transformer.py: 'vit_base_patch16_224.augreg2_in21k_ft_in1k': _cfg(hf_hub_id='timm/')
const VIT_B16_AUGREG2 = timmHub('vit_base_patch16_224', 768, {
  ...TIMM_IN1K, tag: 'augreg2_in21k_ft_in1k', fixed_input_size: true, crop_pct: 0.9, mean: HALF, std: HALF, pool_size: null, first_conv: 'patch_embed.proj', classifier: 'head',
}, 'token');

// timm/models/convnext.py: 'convnext_tiny.fb_in1k': _cfg(..., test_input_size=(3, 288, 288), test_crop_pct=1.0)
const CONVNEXT_TINY_FB = timmHub('convnext_tiny', 768, {
  ...TIMM_IN1K, tag: 'fb_in1k', crop_pct: 0.875, test_input_size: [3, 288, 288], test_crop_pct: 1.0, first_conv: 'stem.0', classifier: 'head.fc',
});

// timm/models/efficientnet.py: 'efficientnet_b0.ra_in1k': _cfg(url=..., hf_hub_id='timm/')
const EFFNET_B0_RA = timmHub('efficientnet_b0', 1280, { ...TIMM_IN1K, tag: 'ra_in1k', crop_pct: 0.875, first_conv: 'conv_stem', classifier: 'classifier' });

const timmSpec = (over: Partial<EcosystemPreprocess>, file: string): EcosystemPreprocess => ({
  cropRounding: 'round',
  interpolation: 'bicubic',
  channels: 'RGB',
  scale: 1 / 255,
  mean: IN_MEAN,
  std: IN_STD,
  source: `timm:${file}`,
  ...over,
});

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const withCfg = (hub: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> => {
  const c = clone(hub);
  Object.assign(c.pretrained_cfg as object, over);
  return c;
};

describe('teacher/configs: IMAGENET_PRESET', () => {
  it('is torchvision\'s eval recipe: Resize(256) → CenterCrop(224) → ToTensor → Normalize(ImageNet)', () => {
    expect(IMAGENET_PRESET).to.deep.equal({
      resize: 256,
      crop: 224,
      cropRounding: 'round',
      interpolation: 'bilinear',
      channels: 'RGB',
      scale: 1 / 255,
      mean: IN_MEAN,
      std: IN_STD,
      source: 'imagenet',
    });
  });

  it('cannot be changed by a caller', () => {
    expect(Object.isFrozen(IMAGENET_PRESET)).to.equal(true);
    expect(Object.isFrozen(IMAGENET_PRESET.mean)).to.equal(true);
  });
});

describe('teacher/configs: timmPreprocess', () => {
  it('resnet50.a1_in1k: scale floor(224 / 0.95) = 235, crop 224, bicubic', () => {
    const f = 'resnet50.a1_in1k/config.json';
    expect(timmPreprocess(RESNET50_A1, f)).to.deep.equal(timmSpec({ resize: 235, crop: 224 }, f));
  });

  it('resnet50.a1_in1k: test_input_size / test_crop_pct only with useTestSize (resolve_data_config default false)', () => {
    const f = 'config.json';
    expect(timmPreprocess(RESNET50_A1, f, { useTestSize: true })).to.deep.equal(timmSpec({ resize: 288, crop: 288 }, f));
    expect(timmPreprocess(RESNET50_A1, f, { useTestSize: false })).to.deep.equal(timmSpec({ resize: 235, crop: 224 }, f));
  });

  it('vit_base_patch16_224.augreg2_in21k_ft_in1k: floor(224 / 0.9) = 248, mean/std 0.5', () => {
    const f = 'vit.json';
    expect(timmPreprocess(VIT_B16_AUGREG2, f)).to.deep.equal(timmSpec({ resize: 248, crop: 224, mean: HALF, std: HALF }, f));
  });

  it('convnext_tiny.fb_in1k: 256 → 224 (288 → 288 at test size)', () => {
    const f = 'convnext.json';
    expect(timmPreprocess(CONVNEXT_TINY_FB, f)).to.deep.equal(timmSpec({ resize: 256, crop: 224 }, f));
    expect(timmPreprocess(CONVNEXT_TINY_FB, f, { useTestSize: true })).to.deep.equal(timmSpec({ resize: 288, crop: 288 }, f));
  });

  it('efficientnet_b0.ra_in1k: 256 → 224, bicubic', () => {
    const f = 'effnet.json';
    expect(timmPreprocess(EFFNET_B0_RA, f)).to.deep.equal(timmSpec({ resize: 256, crop: 224 }, f));
  });

  it('a bare pretrained cfg (the legacy single-dict config.json) resolves the same way', () => {
    const bare = { ...(clone(RESNET50_A1).pretrained_cfg as object), architecture: 'resnet50' };
    expect(timmPreprocess(bare, 'cfg.json')).to.deep.equal(timmSpec({ resize: 235, crop: 224 }, 'cfg.json'));
  });

  it("fills resolve_data_config's defaults: bicubic, crop_pct 0.875, crop_mode center, ImageNet mean/std", () => {
    expect(timmPreprocess({ input_size: [3, 224, 224] }, 'min.json')).to.deep.equal(timmSpec({ resize: 256, crop: 224 }, 'min.json'));
    // Falsy values fall back too (`if pretrained_cfg.get(k, None)`).
    expect(timmPreprocess({ input_size: [3, 224, 224], interpolation: '', crop_pct: 0, crop_mode: null, mean: [] }, 'f.json')).to.deep.equal(
      timmSpec({ resize: 256, crop: 224 }, 'f.json'),
    );
    // test_crop_pct without test_input_size: crop_pct changes, the size does not.
    expect(timmPreprocess({ input_size: [3, 224, 224], test_crop_pct: 1.0 }, 'f.json', { useTestSize: true })).to.deep.equal(
      timmSpec({ resize: 224, crop: 224 }, 'f.json'),
    );
  });

  it("crop_mode 'squash': Resize(scale_size) is a warp, then CenterCrop(img_size)", () => {
    const f = 'squash.json';
    expect(timmPreprocess({ input_size: [3, 224, 224], crop_pct: 1.0, crop_mode: 'squash', interpolation: 'bilinear' }, f)).to.deep.equal(
      timmSpec({ resize: [224, 224], crop: 224, interpolation: 'bilinear' }, f),
    );
    // floor(192 / 0.9) = 213, floor(256 / 0.9) = 284
    expect(timmPreprocess({ input_size: [3, 192, 256], crop_pct: 0.9, crop_mode: 'squash' }, f)).to.deep.equal(
      timmSpec({ resize: [213, 284], crop: [192, 256] }, f),
    );
  });

  it("crop_mode 'center' with a non-square input but a square scale size is torchvision Resize(int)", () => {
    // floor(6 / 2) = 3 = floor(7 / 2) → Resize(3) → CenterCrop((6, 7)), which pads
    expect(timmPreprocess({ input_size: [3, 6, 7], crop_pct: 2 }, 'f.json')).to.deep.equal(timmSpec({ resize: 3, crop: [6, 7] }, 'f.json'));
  });

  it('a one-channel model feeds L with its own mean/std (a single value broadcasts, like Normalize)', () => {
    expect(timmPreprocess({ input_size: [1, 28, 28], crop_pct: 1, mean: [0.5], std: [0.25] }, 'g.json')).to.deep.equal(
      timmSpec({ resize: 28, crop: 28, channels: 'L', mean: [0.5], std: [0.25] }, 'g.json'),
    );
    expect(timmPreprocess({ input_size: [3, 32, 32], crop_pct: 1, mean: [0.5], std: [0.25] }, 'g.json').mean).to.deep.equal(HALF);
  });

  it('EXPECTED FAILURE - missing input_size names what is needed', () => {
    const c = clone(RESNET50_A1);
    delete (c.pretrained_cfg as Record<string, unknown>).input_size;
    refused(() => timmPreprocess(c, 'r50.json'), 'r50.json', 'pretrained_cfg.input_size', /\[channels, height, width\]/);
    refused(() => timmPreprocess({ crop_pct: 0.9 }, 'bare.json'), 'bare.json', 'input_size');
    refused(() => timmPreprocess({ input_size: [224, 224] }, 'bare.json'), 'bare.json', 'input_size');
    refused(() => timmPreprocess({ input_size: [3, 224.5, 224] }, 'bare.json'), 'bare.json', 'input_size[1]');
    refused(() => timmPreprocess({ input_size: [4, 224, 224] }, 'bare.json'), 'bare.json', 'input_size[0]');
  });

  it("EXPECTED FAILURE - interpolation 'random' and unknown filters", () => {
    refused(() => timmPreprocess(withCfg(RESNET50_A1, { interpolation: 'random' }), 'r.json'), 'r.json', 'pretrained_cfg.interpolation', /random/);
    refused(() => timmPreprocess(withCfg(RESNET50_A1, { interpolation: 'area' }), 'r.json'), 'r.json', 'pretrained_cfg.interpolation', /str_to_interp_mode/);
    refused(() => timmPreprocess({ input_size: [3, 8, 8], interpolation: 3 }, 'b.json'), 'b.json', 'interpolation');
  });

  it("EXPECTED FAILURE - crop_mode 'center' with a non-square scale size (timm's ResizeKeepRatio)", () => {
    refused(
      () => timmPreprocess(withCfg(RESNET50_A1, { input_size: [3, 192, 256] }), 'r.json'),
      'r.json',
      'pretrained_cfg.crop_mode',
      /'center' with pretrained_cfg\.input_size 192x256 \(scale size 202x269, not square\) uses timm's ResizeKeepRatio/,
    );
  });

  it("EXPECTED FAILURE - crop_mode 'border', and modes timm does not have", () => {
    refused(() => timmPreprocess(withCfg(RESNET50_A1, { crop_mode: 'border' }), 'r.json'), 'r.json', 'pretrained_cfg.crop_mode', /border/);
    refused(() => timmPreprocess(withCfg(RESNET50_A1, { crop_mode: 'zoom' }), 'r.json'), 'r.json', 'pretrained_cfg.crop_mode', /center, squash, border/);
  });

  it('EXPECTED FAILURE - mean/std that are not numbers, have the wrong length, or divide by zero', () => {
    refused(() => timmPreprocess(withCfg(RESNET50_A1, { mean: [0.485, 'x', 0.406] }), 'r.json'), 'r.json', 'pretrained_cfg.mean[1]');
    refused(() => timmPreprocess(withCfg(RESNET50_A1, { mean: '0.5' }), 'r.json'), 'r.json', 'pretrained_cfg.mean');
    refused(() => timmPreprocess(withCfg(RESNET50_A1, { mean: [0.5, 0.5] }), 'r.json'), 'r.json', 'pretrained_cfg.mean', /2 value\(s\).*3 channel/);
    refused(() => timmPreprocess(withCfg(RESNET50_A1, { std: [0.2, 0, 0.2] }), 'r.json'), 'r.json', 'pretrained_cfg.std[1]', /non-zero/);
    refused(() => timmPreprocess({ input_size: [1, 28, 28] }, 'g.json'), 'g.json', 'mean');
  });

  it('EXPECTED FAILURE - a bad crop_pct, a non-object, a Hugging Face file', () => {
    refused(() => timmPreprocess(withCfg(RESNET50_A1, { crop_pct: '0.9' }), 'r.json'), 'r.json', 'pretrained_cfg.crop_pct');
    refused(() => timmPreprocess(withCfg(RESNET50_A1, { crop_pct: 1000 }), 'r.json'), 'r.json', 'pretrained_cfg.crop_pct', /empty/);
    refused(() => timmPreprocess([1, 2], 'a.json'), 'a.json', '(top level)');
    refused(() => timmPreprocess({ pretrained_cfg: 'x' }, 'a.json'), 'a.json', 'pretrained_cfg');
    const e = refused(() => timmPreprocess({ image_processor_type: 'ViTImageProcessor' }, 'p.json'), 'p.json', 'image_processor_type');
    expect(e.hint).to.match(/hf:FILE/);
  });
});

const hfSpec = (over: Partial<EcosystemPreprocess>, file: string): EcosystemPreprocess => ({
  channels: 'RGB',
  scale: 1 / 255,
  mean: HALF,
  std: HALF,
  source: `hf:${file}`,
  ...over,
});

// google/vit-base-patch16-224 preprocessor_config.json
const VIT_BASE_224 = {
  do_normalize: true,
  do_resize: true,
  feature_extractor_type: 'ViTFeatureExtractor',
  image_mean: HALF,
  image_std: HALF,
  resample: 2,
  size: 224,
};
// microsoft/resnet-50 (ResNet uses ConvNextImageProcessor)
const RESNET_50 = {
  crop_pct: 0.875,
  do_normalize: true,
  do_rescale: true,
  do_resize: true,
  image_mean: IN_MEAN,
  image_processor_type: 'ConvNextImageProcessor',
  image_std: IN_STD,
  resample: 3,
  rescale_factor: 0.00392156862745098,
  size: { shortest_edge: 224 },
};
// facebook/convnext-tiny-224
const CONVNEXT_TINY_224 = {
  crop_pct: 0.875,
  do_normalize: true,
  do_resize: true,
  feature_extractor_type: 'ConvNextFeatureExtractor',
  image_mean: IN_MEAN,
  image_std: IN_STD,
  resample: 3,
  size: 224,
};
// facebook/deit-base-distilled-patch16-224
const DEIT_BASE_DISTILLED = {
  crop_size: 224,
  do_center_crop: true,
  do_normalize: true,
  do_resize: true,
  feature_extractor_type: 'DeiTFeatureExtractor',
  image_mean: IN_MEAN,
  image_std: IN_STD,
  resample: 3,
  size: 256,
};
// openai/clip-vit-base-patch32
const CLIP_B32 = {
  crop_size: 224,
  do_center_crop: true,
  do_normalize: true,
  do_resize: true,
  feature_extractor_type: 'CLIPFeatureExtractor',
  image_mean: CLIP_MEAN,
  image_std: CLIP_STD,
  resample: 3,
  size: 224,
};
// google/mobilenet_v2_1.0_224
const MOBILENET_V2 = {
  crop_size: { height: 224, width: 224 },
  do_center_crop: true,
  do_normalize: true,
  do_rescale: true,
  do_resize: true,
  image_mean: HALF,
  image_processor_type: 'MobileNetV2ImageProcessor',
  image_std: HALF,
  resample: 2,
  rescale_factor: 0.00392156862745098,
  size: { shortest_edge: 256 },
};
// facebook/dinov2-base (DINOv2 uses BitImageProcessor)
const DINOV2_BASE = {
  crop_size: { height: 224, width: 224 },
  do_center_crop: true,
  do_convert_rgb: true,
  do_normalize: true,
  do_rescale: true,
  do_resize: true,
  image_mean: IN_MEAN,
  image_processor_type: 'BitImageProcessor',
  image_std: IN_STD,
  resample: 3,
  rescale_factor: 0.00392156862745098,
  size: { shortest_edge: 256 },
};
// microsoft/swin-tiny-patch4-window7-224 (Swin uses ViTImageProcessor)
const SWIN_TINY = {
  do_normalize: true,
  do_resize: true,
  feature_extractor_type: 'ViTFeatureExtractor',
  image_mean: IN_MEAN,
  image_std: IN_STD,
  resample: 3,
  size: 224,
};
// google/efficientnet-b0: image_std is sqrt(ImageNet std) because include_top divides by it twice
const EFFICIENTNET_B0 = {
  crop_size: { height: 289, width: 289 },
  do_center_crop: false,
  do_normalize: true,
  do_rescale: true,
  do_resize: true,
  image_mean: IN_MEAN,
  image_processor_type: 'EfficientNetImageProcessor',
  image_std: [0.47853944, 0.4732864, 0.47434163],
  include_top: true,
  resample: 0,
  rescale_factor: 0.00392156862745098,
  rescale_offset: false,
  size: { height: 224, width: 224 },
};
// apple/mobilevit-small
const MOBILEVIT_SMALL = {
  crop_size: 256,
  do_center_crop: true,
  do_flip_channel_order: true,
  do_resize: true,
  feature_extractor_type: 'MobileViTFeatureExtractor',
  resample: 2,
  size: 288,
};

describe('teacher/configs: hfPreprocess', () => {
  it('google/vit-base-patch16-224: ViT warps to 224×224 (an int size is a square for ViT), bilinear, mean 0.5', () => {
    const f = 'preprocessor_config.json';
    const want = hfSpec({ resize: [224, 224], interpolation: 'bilinear' }, f);
    expect(hfPreprocess(VIT_BASE_224, f)).to.deep.equal(want);
    expect(hfPreprocess({ ...VIT_BASE_224, size: { height: 224, width: 224 } }, f)).to.deep.equal(want);
    expect(hfPreprocess({ ...VIT_BASE_224, feature_extractor_type: undefined, image_processor_type: 'ViTImageProcessorFast' }, f)).to.deep.equal(want);
  });

  it('microsoft/resnet-50: ConvNext rule, shortest_edge 224 < 384 → shorter side int(224 / 0.875) = 256, crop 224 (floor)', () => {
    const f = 'resnet-50.json';
    expect(hfPreprocess(RESNET_50, f)).to.deep.equal(
      hfSpec({ resize: 256, crop: 224, cropRounding: 'floor', interpolation: 'bicubic', mean: IN_MEAN, std: IN_STD }, f),
    );
  });

  it('facebook/convnext-tiny-224: the int size is a shortest edge for ConvNext (default_to_square=False)', () => {
    const f = 'convnext.json';
    expect(hfPreprocess(CONVNEXT_TINY_224, f)).to.deep.equal(
      hfSpec({ resize: 256, crop: 224, cropRounding: 'floor', interpolation: 'bicubic', mean: IN_MEAN, std: IN_STD }, f),
    );
  });

  it('ConvNext at shortest_edge ≥ 384 warps to s×s with no crop; crop_pct defaults to 224/256', () => {
    const f = 'convnext-384.json';
    expect(hfPreprocess({ ...CONVNEXT_TINY_224, size: 384 }, f)).to.deep.equal(
      hfSpec({ resize: [384, 384], interpolation: 'bicubic', mean: IN_MEAN, std: IN_STD }, f),
    );
    expect(hfPreprocess({ image_processor_type: 'ConvNextImageProcessor', size: { shortest_edge: 224 } }, f)).to.deep.equal(
      hfSpec({ resize: 256, crop: 224, cropRounding: 'floor', interpolation: 'bicubic' }, f),
    );
    // the class default size is shortest_edge 384
    expect(hfPreprocess({ image_processor_type: 'ConvNextImageProcessor' }, f).resize).to.deep.equal([384, 384]);
  });

  it('facebook/deit-base-distilled-patch16-224: DeiT warps to 256×256 (not a shorter-side resize), then crops 224', () => {
    const f = 'deit.json';
    expect(hfPreprocess(DEIT_BASE_DISTILLED, f)).to.deep.equal(
      hfSpec({ resize: [256, 256], crop: 224, cropRounding: 'floor', interpolation: 'bicubic', mean: IN_MEAN, std: IN_STD }, f),
    );
  });

  it('openai/clip-vit-base-patch32: shortest edge 224, crop 224, CLIP mean/std, bicubic', () => {
    const f = 'clip.json';
    expect(hfPreprocess(CLIP_B32, f)).to.deep.equal(
      hfSpec({ resize: 224, crop: 224, cropRounding: 'floor', interpolation: 'bicubic', mean: CLIP_MEAN, std: CLIP_STD }, f),
    );
  });

  it('google/mobilenet_v2_1.0_224: shortest edge 256, crop 224, bilinear, mean 0.5', () => {
    const f = 'mobilenet.json';
    expect(hfPreprocess(MOBILENET_V2, f)).to.deep.equal(hfSpec({ resize: 256, crop: 224, cropRounding: 'floor', interpolation: 'bilinear' }, f));
  });

  it('facebook/dinov2-base (BitImageProcessor) and microsoft/swin-tiny-patch4-window7-224 (ViTImageProcessor)', () => {
    expect(hfPreprocess(DINOV2_BASE, 'd.json')).to.deep.equal(
      hfSpec({ resize: 256, crop: 224, cropRounding: 'floor', interpolation: 'bicubic', mean: IN_MEAN, std: IN_STD }, 'd.json'),
    );
    expect(hfPreprocess(SWIN_TINY, 's.json')).to.deep.equal(hfSpec({ resize: [224, 224], interpolation: 'bicubic', mean: IN_MEAN, std: IN_STD }, 's.json'));
  });

  it('google/efficientnet-b0: include_top divides by std again → std² (≈ ImageNet std); rescale_offset adds 1 to the mean', () => {
    const r = hfPreprocess(EFFICIENTNET_B0, 'e.json');
    expect(r.resize).to.deep.equal([224, 224]);
    expect(r.interpolation).to.equal('nearest');
    expect(r.crop).to.equal(undefined);
    expect(r.mean).to.deep.equal(IN_MEAN);
    r.std!.forEach((s, i) => expect(s).to.be.closeTo(IN_STD[i], 1e-6));
    const off = hfPreprocess({ ...EFFICIENTNET_B0, rescale_offset: true, rescale_factor: 1 / 127.5, do_normalize: false, include_top: false }, 'e.json');
    expect(off).to.deep.include({ scale: 1 / 127.5, mean: [1, 1, 1], std: [1, 1, 1] });
    const top = hfPreprocess({ ...EFFICIENTNET_B0, do_normalize: false }, 'e.json');
    expect(top).to.deep.include({ mean: [0, 0, 0], std: EFFICIENTNET_B0.image_std });
  });

  it('apple/mobilevit-small: shortest edge 288, crop 256, no normalization, BGR (do_flip_channel_order)', () => {
    const f = 'mobilevit.json';
    expect(hfPreprocess(MOBILEVIT_SMALL, f)).to.deep.equal(
      hfSpec({ resize: 288, crop: 256, cropRounding: 'floor', interpolation: 'bilinear', channels: 'BGR', mean: [0, 0, 0], std: [1, 1, 1] }, f),
    );
    expect(hfPreprocess({ ...MOBILEVIT_SMALL, do_flip_channel_order: false }, f).channels).to.equal('RGB');
  });

  it('fills class defaults from the source: ViT 224² bilinear 0.5; CLIP; DeiT; MobileNetV2', () => {
    expect(hfPreprocess({ image_processor_type: 'ViTImageProcessor' }, 'v.json')).to.deep.equal(hfSpec({ resize: [224, 224], interpolation: 'bilinear' }, 'v.json'));
    expect(hfPreprocess({ image_processor_type: 'CLIPImageProcessor' }, 'c.json')).to.deep.equal(
      hfSpec({ resize: 224, crop: 224, cropRounding: 'floor', interpolation: 'bicubic', mean: CLIP_MEAN, std: CLIP_STD }, 'c.json'),
    );
    expect(hfPreprocess({ image_processor_type: 'DeiTImageProcessor' }, 'd.json')).to.deep.equal(
      hfSpec({ resize: [256, 256], crop: 224, cropRounding: 'floor', interpolation: 'bicubic' }, 'd.json'),
    );
    expect(hfPreprocess({ image_processor_type: 'MobileNetV2ImageProcessor', size: null }, 'm.json')).to.deep.equal(
      hfSpec({ resize: 256, crop: 224, cropRounding: 'floor', interpolation: 'bilinear' }, 'm.json'),
    );
  });

  it('do_resize / do_center_crop / do_rescale / do_normalize false drop their steps; a scalar mean broadcasts', () => {
    expect(hfPreprocess({ ...CLIP_B32, do_resize: false, do_center_crop: false, do_rescale: false, do_normalize: false }, 'c.json')).to.deep.equal(
      hfSpec({ scale: 1, mean: [0, 0, 0], std: [1, 1, 1] }, 'c.json'),
    );
    expect(hfPreprocess({ ...VIT_BASE_224, image_mean: 0.5, image_std: 0.5 }, 'v.json').mean).to.deep.equal(HALF);
    // CLIP-style resize with {height, width} is a warp
    expect(hfPreprocess({ ...CLIP_B32, size: { height: 240, width: 320 } }, 'c.json').resize).to.deep.equal([240, 320]);
  });

  it('an unknown class is resolved with the base-class steps when the file spells every key out', () => {
    const siglip = {
      do_center_crop: false,
      do_normalize: true,
      do_rescale: true,
      do_resize: true,
      image_mean: HALF,
      image_processor_type: 'SiglipImageProcessor',
      image_std: HALF,
      resample: 3,
      rescale_factor: 0.00392156862745098,
      size: { height: 224, width: 224 },
    };
    expect(hfPreprocess(siglip, 'sig.json')).to.deep.equal(hfSpec({ resize: [224, 224], interpolation: 'bicubic' }, 'sig.json'));
    refused(() => hfPreprocess({ ...siglip, do_center_crop: undefined }, 'sig.json'), 'sig.json', 'do_center_crop', /not a class whose defaults tfkd knows/);
    refused(() => hfPreprocess({ ...siglip, size: 224 }, 'sig.json'), 'sig.json', 'size', /square or a shortest edge/);
    expect(hfPreprocess({ ...siglip, size: 224, default_to_square: true }, 'sig.json').resize).to.deep.equal([224, 224]);
  });

  it('EXPECTED FAILURE - a default that transformers 4 and 5 disagree on must be in the file', () => {
    refused(() => hfPreprocess({ image_processor_type: 'BeitImageProcessor' }, 'beit.json'), 'beit.json', 'size', /transformers 4 .*256.* and 5 .*224/);
    refused(() => hfPreprocess({ ...EFFICIENTNET_B0, resample: undefined }, 'e.json'), 'e.json', 'resample', /transformers 4 \(0\) and 5 \(3\)/);
    refused(() => hfPreprocess({ ...MOBILEVIT_SMALL, resample: null }, 'mv.json'), 'mv.json', 'resample');
    refused(() => hfPreprocess({ ...VIT_BASE_224, do_center_crop: true, crop_size: 224 }, 'v.json'), 'v.json', 'do_center_crop', /ignores it/);
    refused(() => hfPreprocess({ ...CONVNEXT_TINY_224, default_to_square: true }, 'c.json'), 'c.json', 'default_to_square');
    expect(hfPreprocess({ image_processor_type: 'BeitImageProcessor', size: 224, do_center_crop: false }, 'beit.json').resize).to.deep.equal([224, 224]);
  });

  it('EXPECTED FAILURE - sizes the class cannot use, or tfkd cannot express', () => {
    refused(() => hfPreprocess({ ...VIT_BASE_224, size: { shortest_edge: 224 } }, 'v.json'), 'v.json', 'size.shortest_edge');
    refused(() => hfPreprocess({ ...CONVNEXT_TINY_224, size: { height: 224, width: 224 } }, 'c.json'), 'c.json', 'size', /shortest_edge/);
    refused(() => hfPreprocess({ ...CLIP_B32, size: { shortest_edge: 224, longest_edge: 448 } }, 'c.json'), 'c.json', 'size.longest_edge');
    refused(() => hfPreprocess({ ...CLIP_B32, size: { longest_edge: 448 } }, 'c.json'), 'c.json', 'size.longest_edge');
    refused(() => hfPreprocess({ ...CLIP_B32, size: { width: 224 } }, 'c.json'), 'c.json', 'size', /height, width/);
    refused(() => hfPreprocess({ ...CLIP_B32, size: 224.5 }, 'c.json'), 'c.json', 'size');
    refused(() => hfPreprocess({ ...CLIP_B32, crop_size: { shortest_edge: 224 } }, 'c.json'), 'c.json', 'crop_size');
    refused(() => hfPreprocess({ ...MOBILEVIT_SMALL, size: { height: 256, width: 256 } }, 'mv.json'), 'mv.json', 'size');
  });

  it('EXPECTED FAILURE - processors and keys whose transform is not resize + crop + affine', () => {
    refused(() => hfPreprocess({ image_processor_type: 'DetrImageProcessor', size: { shortest_edge: 800, longest_edge: 1333 } }, 'detr.json'), 'detr.json', 'image_processor_type', /DetrImageProcessor/);
    refused(() => hfPreprocess({ feature_extractor_type: 'DonutFeatureExtractor' }, 'donut.json'), 'donut.json', 'feature_extractor_type', /DonutImageProcessor/);
    refused(() => hfPreprocess({ ...VIT_BASE_224, do_pad: true }, 'v.json'), 'v.json', 'do_pad');
    refused(() => hfPreprocess({ image_processor_type: 'LlavaNextImageProcessor', image_grid_pinpoints: [[336, 672]] }, 'l.json'), 'l.json', 'image_grid_pinpoints');
    refused(() => hfPreprocess({ ...VIT_BASE_224, auto_map: { AutoImageProcessor: 'x.Y' } }, 'v.json'), 'v.json', 'auto_map');
  });

  it('EXPECTED FAILURE - bad resample, mean and std values', () => {
    refused(() => hfPreprocess({ ...VIT_BASE_224, resample: 7 }, 'v.json'), 'v.json', 'resample', /PIL resampling filter/);
    refused(() => hfPreprocess({ ...VIT_BASE_224, resample: 'bicubic' }, 'v.json'), 'v.json', 'resample');
    refused(() => hfPreprocess({ ...VIT_BASE_224, image_mean: [0.5, 'a', 0.5] }, 'v.json'), 'v.json', 'image_mean[1]', /finite number/);
    refused(() => hfPreprocess({ ...VIT_BASE_224, image_mean: [0.5, 0.5] }, 'v.json'), 'v.json', 'image_mean', /2 value\(s\)/);
    refused(() => hfPreprocess({ ...VIT_BASE_224, image_std: [0.5, 0, 0.5] }, 'v.json'), 'v.json', 'image_std[1]', /non-zero/);
    refused(() => hfPreprocess({ ...VIT_BASE_224, rescale_factor: -1 }, 'v.json'), 'v.json', 'rescale_factor');
    refused(() => hfPreprocess({ ...VIT_BASE_224, do_resize: 'yes' }, 'v.json'), 'v.json', 'do_resize');
    refused(() => hfPreprocess({ ...CONVNEXT_TINY_224, crop_pct: 0 }, 'c.json'), 'c.json', 'crop_pct');
  });

  it('EXPECTED FAILURE - no processor class, a non-object, a timm file', () => {
    refused(() => hfPreprocess({ size: 224, resample: 2 }, 'p.json'), 'p.json', 'image_processor_type', /feature_extractor_type/);
    refused(() => hfPreprocess({ image_processor_type: 42 }, 'p.json'), 'p.json', 'image_processor_type');
    refused(() => hfPreprocess(null, 'p.json'), 'p.json', '(top level)');
    const e = refused(() => hfPreprocess(RESNET50_A1, 'config.json'), 'config.json', 'pretrained_cfg');
    expect(e.hint).to.match(/timm:FILE/);
  });
});
