#!/usr/bin/python3
"""torchvision students for tfkd's ONNX import (issue 19): export, and PyTorch's reference step.

  export --arch A --out M.onnx [--size 64] [--classes 10] [--seed 0] [--opset 17]
         [--channels 3 --patch 8 --width 192 --depth 4]   (timm_vit's shape)
      torchvision.models.<A>(num_classes=K) with torchvision's seeded initialisation (or one of
      CUSTOM: vit, timm_vit, timm_deit, convnext_atto, convnext_official, swin — small transformer-era
      configurations), its BatchNorm
      running statistics calibrated (momentum None, train-mode forward over seeded random inputs,
      so eval-mode activations stay normalised and float32 rounding does not blow up), then
          torch.onnx.export(model.eval(), x, M.onnx, training=torch.onnx.TrainingMode.PRESERVE,
                            do_constant_folding=False, opset_version=17, ...)
      -- the export line docs/TRAINING.md gives users: BatchNormalization nodes and the
      state_dict's initializer names are kept. Writes M.pt (the state_dict) next to it.

  step --arch A --pt M.pt --x X.bin --y Y.bin --n N --size S [--soft P.bin] --classes K
       --lr LR --momentum MU --weight-decay WD --steps T [--alpha A --temperature T] [--double]
       [--optimizer sgd|adamw --skip-decay 1d,pos_embed --clip-grad 1.0 --layer-decay D --layer-groups vit] [--drop-path R --masks M.bin]
       [--distill-token hard|soft --epsilon E] --out DIR
      T steps of torch.optim.SGD or AdamW (timm's two parameter groups with --skip-decay: the weights
      it names without weight decay; clip_grad_norm_ before each step with --clip-grad) on one batch with the model in train mode (BatchNorm on batch
      statistics, running statistics updated; Dropout / StochasticDepth off, as in the eval-mode graph), loss CE or, with --soft (tempered teacher
      probabilities), tfkd's `kd` (paper fidelity): (1-a)*CE + a*t^2*KL(p_t || softmax(z/t))
      batchmean; with --distill-token (timm_deit), DeiT's DistillationLoss on the two heads
      (distilled_training): hard (1-a)*CE_smoothed(head) + a*CE(head_dist, argmax p_t) or soft
      (1-a)*CE(head) + a*t^2*KL_sum(head_dist)/numel. X is float32 NCHW (already normalised), Y int32. Writes DIR/index.json
      {name: [offset, shape]} + DIR/data.bin (float32 LE) with every state_dict entry after the steps
      (num_batches_tracked excluded) and the initial ones under "init:<name>".

  logits --arch A --pt M.pt --x X.bin --n N --size S --classes K --out F.bin
      eval-mode logits in float32.

Run with Debian's interpreter (torch 1.13, torchvision 0.14): /usr/bin/python3 scripts/torchvision_student.py ...
"""
import argparse
import fnmatch
import inspect
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
sys.dont_write_bytecode = True  # the timm_layer_decay import leaves no scripts/__pycache__


class TimmAttention(torch.nn.Module):
    """timm 0.9's vision_transformer.Attention as torch 1.13 runs it (no fused SDPA): one qkv
    Linear, reshape to [B, N, 3, heads, head_dim], permute(2, 0, 3, 1, 4), unbind, q·scale @ kᵀ,
    softmax, @ v, transpose(1, 2), reshape, proj."""

    def __init__(self, dim, heads):
        super().__init__()
        self.num_heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = torch.nn.Linear(dim, dim * 3, bias=True)
        self.proj = torch.nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = q * self.scale
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class TimmBlock(torch.nn.Module):
    """timm's pre-norm Block: x + attn(norm1(x)), then x + mlp(norm2(x)), Mlp = fc1, GELU, fc2."""

    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.norm1 = torch.nn.LayerNorm(dim, eps=1e-6)
        self.attn = TimmAttention(dim, heads)
        self.norm2 = torch.nn.LayerNorm(dim, eps=1e-6)
        self.mlp = torch.nn.Sequential()
        self.mlp.add_module('fc1', torch.nn.Linear(dim, mlp))
        self.mlp.add_module('act', torch.nn.GELU())
        self.mlp.add_module('fc2', torch.nn.Linear(mlp, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TimmViT(torch.nn.Module):
    """timm's VisionTransformer (DeiT's layout: conv patch embedding, class token, learned position
    embedding, pre-norm blocks, final LayerNorm, head on the class token), parameter names as timm's."""

    def __init__(self, size, patch, dim, depth, heads, mlp, classes, channels=3):
        super().__init__()
        self.patch_embed = torch.nn.Module()
        self.patch_embed.proj = torch.nn.Conv2d(channels, dim, patch, patch)
        n = (size // patch) ** 2
        self.cls_token = torch.nn.Parameter(torch.randn(1, 1, dim) * 1e-6)
        self.pos_embed = torch.nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = torch.nn.Sequential(*[TimmBlock(dim, heads, mlp) for _ in range(depth)])
        self.norm = torch.nn.LayerNorm(dim, eps=1e-6)
        self.head = torch.nn.Linear(dim, classes)
        for m in self.modules():
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.trunc_normal_(m.weight, std=0.02)
                torch.nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


class TimmDeiT(TimmViT):
    """timm's VisionTransformerDistilled (DeiT's distilled models, deit_*_distilled_*): a second
    prefix token (dist_token) after the class token, a position embedding for both, and a second
    head (head_dist) on it. With distilled_training in training mode it returns (head(x[:, 0]),
    head_dist(x[:, 1])), as timm and DeiT's DistilledVisionTransformer do; otherwise (and in the
    eval-mode export) the average of the two heads, (x + x_dist) / 2."""

    def __init__(self, size, patch, dim, depth, heads, mlp, classes, channels=3):
        super().__init__(size, patch, dim, depth, heads, mlp, classes, channels)
        n = (size // patch) ** 2
        self.dist_token = torch.nn.Parameter(torch.nn.init.trunc_normal_(torch.zeros(1, 1, dim), std=.02))
        self.pos_embed = torch.nn.Parameter(torch.nn.init.trunc_normal_(torch.zeros(1, n + 2, dim), std=.02))
        self.head_dist = torch.nn.Linear(dim, classes)
        torch.nn.init.trunc_normal_(self.head_dist.weight, std=0.02)
        torch.nn.init.zeros_(self.head_dist.bias)
        self.distilled_training = False

    def forward(self, x):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        b = x.shape[0]
        x = torch.cat((self.cls_token.expand(b, -1, -1), self.dist_token.expand(b, -1, -1), x), dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        x, x_dist = self.head(x[:, 0]), self.head_dist(x[:, 1])
        if self.distilled_training and self.training:
            return x, x_dist
        return (x + x_dist) / 2


class OfficialLayerNorm(torch.nn.Module):
    """facebookresearch/ConvNeXt's LayerNorm: channels_last is F.layer_norm; channels_first is
    written out (mean, (x − u)², sqrt), which torch exports as ReduceMean, Sub, Pow, Sqrt, Div."""

    def __init__(self, dim, eps=1e-6, channels_first=False):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))
        self.bias = torch.nn.Parameter(torch.zeros(dim))
        self.eps = eps
        self.channels_first = channels_first
        self.dim = dim

    def forward(self, x):
        if not self.channels_first:
            return F.layer_norm(x, (self.dim,), self.weight, self.bias, self.eps)
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class OfficialBlock(torch.nn.Module):
    """facebookresearch/ConvNeXt's Block: dwconv 7×7, permute, LayerNorm, Linear 4×, GELU, Linear,
    γ (layer scale), permute back, residual."""

    def __init__(self, dim):
        super().__init__()
        self.dwconv = torch.nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = OfficialLayerNorm(dim)
        self.pwconv1 = torch.nn.Linear(dim, 4 * dim)
        self.act = torch.nn.GELU()
        self.pwconv2 = torch.nn.Linear(4 * dim, dim)
        self.gamma = torch.nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


class OfficialConvNeXt(torch.nn.Module):
    """facebookresearch/ConvNeXt's ConvNeXt (stem and downsampling with channels_first LayerNorm,
    head = LayerNorm of the pooled features + Linear), parameter names as theirs."""

    def __init__(self, dims, depths, classes):
        super().__init__()
        self.downsample_layers = torch.nn.ModuleList()
        self.downsample_layers.append(torch.nn.Sequential(torch.nn.Conv2d(3, dims[0], 4, 4), OfficialLayerNorm(dims[0], channels_first=True)))
        for i in range(3):
            self.downsample_layers.append(torch.nn.Sequential(OfficialLayerNorm(dims[i], channels_first=True), torch.nn.Conv2d(dims[i], dims[i + 1], 2, 2)))
        self.stages = torch.nn.ModuleList(torch.nn.Sequential(*[OfficialBlock(d) for _ in range(n)]) for d, n in zip(dims, depths))
        self.norm = torch.nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = torch.nn.Linear(dims[-1], classes)
        for m in self.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.trunc_normal_(m.weight, std=0.02)
                torch.nn.init.zeros_(m.bias)

    def forward(self, x):
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return self.head(self.norm(x.mean([-2, -1])))


def vit(classes, size):
    """torchvision's VisionTransformer (nn.MultiheadAttention) at DeiT-tiny's width — 192, 3 heads,
    MLP 768 — with 4 layers and 8×8 patches."""
    return torchvision.models.VisionTransformer(image_size=size, patch_size=8, num_layers=4, num_heads=3, hidden_dim=192, mlp_dim=768, num_classes=classes)


def convnext_atto(classes, size):
    """torchvision's ConvNeXt blocks at timm's convnext_atto dims: 40, 80, 160, 320, depths 2, 2, 6, 2."""
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    cfg = [CNBlockConfig(40, 80, 2), CNBlockConfig(80, 160, 2), CNBlockConfig(160, 320, 6), CNBlockConfig(320, None, 2)]
    return ConvNeXt(cfg, stochastic_depth_prob=0.1, num_classes=classes)


def swin(classes, size):
    """torchvision's SwinTransformer (shifted windows, relative position bias, patch merging) at a
    small configuration: 4×4 patches, width 48, two stages of two blocks (2 and 4 heads), 4×4
    windows — at 64×64 the first stage has 16 windows, the shifted blocks their attention mask."""
    from torchvision.models.swin_transformer import SwinTransformer
    return SwinTransformer(patch_size=[4, 4], embed_dim=48, depths=[2, 2], num_heads=[2, 4], window_size=[4, 4], num_classes=classes)


# Transformer-era students: torchvision's classes at small configurations, and copies of timm's ViT
# and of facebookresearch/ConvNeXt's model (neither is packaged by Debian), so the tests cover both
# attention exports and both ways of writing a channels-first LayerNorm.
CUSTOM = {
    'vit': vit,
    'timm_vit': lambda classes, size: TimmViT(size, 8, 192, 4, 3, 768, classes),
    'timm_deit': lambda classes, size: TimmDeiT(size, 8, 192, 4, 3, 768, classes),
    'convnext_atto': convnext_atto,
    'convnext_official': lambda classes, size: OfficialConvNeXt([40, 80, 160, 320], [2, 2, 6, 2], classes),
    'swin': swin,
}
ARCHS = ('resnet18', 'mobilenet_v3_small', 'shufflenet_v2_x0_5', 'efficientnet_b0', 'mobilenet_v2') + tuple(CUSTOM)


def build(arch, classes, seed, size, vit_shape=None):
    torch.manual_seed(seed)
    if vit_shape:
        # export --channels/--patch/--width/--depth: timm_vit of another shape (heads = width/64, MLP 4x)
        channels, patch, width, depth = vit_shape
        return TimmViT(size, patch, width, depth, max(1, width // 64), 4 * width, classes, channels)
    if arch in CUSTOM:
        return CUSTOM[arch](classes, size)
    return getattr(torchvision.models, arch)(num_classes=classes)


def calibrate(model, size, seed, batches=4, n=8, channels=3):
    """Running statistics = the average batch statistics of seeded N(0, 1) inputs."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    g = torch.Generator().manual_seed(seed + 1)
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(n, channels, size, size, generator=g))
    for m, mo in zip(bns, saved):
        m.momentum = mo
    model.eval()


def condition(model, seed):
    """Seeded BatchNorm biases in [0.1, 0.5] (γ stays 1): an untrained net's zero β leaves about
    half of every ReLU's inputs dead, and channels of near-zero batch variance downstream make a
    train-mode step ill-conditioned at small sizes (float32 rounding amplified by 1/sqrt(eps)).
    Transformer-era nets: LayerNorm γ in [0.8, 1.2] and β in [-0.1, 0.1], ConvNeXt's layer scale
    in [0.2, 0.6] instead of 1e-6, and a zero-initialised head (torchvision's ViT) made N(0, 0.02²)
    — at their own init the first step moves the head alone, or the blocks by 1e-6, and a test of
    the step would check little else."""
    from torchvision.models.convnext import CNBlock
    g = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.bias.copy_(0.1 + 0.4 * torch.rand(m.bias.shape, generator=g))
            elif isinstance(m, (torch.nn.LayerNorm, OfficialLayerNorm)):
                m.weight.copy_(0.8 + 0.4 * torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(-0.1 + 0.2 * torch.rand(m.bias.shape, generator=g))
            elif isinstance(m, CNBlock):
                m.layer_scale.copy_(0.2 + 0.4 * torch.rand(m.layer_scale.shape, generator=g))
            elif isinstance(m, OfficialBlock):
                m.gamma.copy_(0.2 + 0.4 * torch.rand(m.gamma.shape, generator=g))
            elif isinstance(m, torch.nn.Linear) and not m.weight.any():
                m.weight.copy_(0.02 * torch.randn(m.weight.shape, generator=g))


def cmd_export(a):
    torch.set_num_threads(1)
    shape = (a.channels, a.patch, a.width, a.depth)
    custom = shape != (3, 8, 192, 4)
    if custom and a.arch != 'timm_vit':
        raise SystemExit('--channels/--patch/--width/--depth apply to timm_vit only')
    model = build(a.arch, a.classes, a.seed, a.size, shape if custom else None)
    condition(model, a.seed)
    calibrate(model, a.size, a.seed, channels=a.channels)
    x = torch.zeros(1, a.channels, a.size, a.size)
    # torch ≥ 2.9 exports with its dynamo exporter by default; tfkd's importer reads the TorchScript
    # exporter's graphs (BatchNorm kept in training mode, the state_dict's initializer names), so
    # ask for that one wherever the argument exists (the GPU machine's PyTorch may be that new).
    legacy = {'dynamo': False} if 'dynamo' in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(model, x, a.out, training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False, **legacy,
                      opset_version=a.opset, input_names=['input'], output_names=['logits'],
                      dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})
    torch.save(model.state_dict(), os.path.splitext(a.out)[0] + '.pt')
    print(json.dumps({'arch': a.arch, 'out': a.out, 'size': a.size, 'classes': a.classes}))


def load(a):
    torch.set_num_threads(1)
    model = build(a.arch, a.classes, 0, a.size)
    model.load_state_dict(torch.load(a.pt))
    return model


def read(path, dtype, shape):
    return torch.from_numpy(np.fromfile(path, dtype=dtype).reshape(shape).copy())


def write_state(out, entries):
    os.makedirs(out, exist_ok=True)
    index, off = {}, 0
    with open(os.path.join(out, 'data.bin'), 'wb') as f:
        for name, t in entries:
            arr = t.detach().to(torch.float32).contiguous().numpy()
            f.write(arr.astype('<f4').tobytes())
            index[name] = [off, list(arr.shape)]
            off += arr.size
    with open(os.path.join(out, 'index.json'), 'w') as f:
        json.dump(index, f)


def no_decay_names(model, rules):
    """tfkd's --skip-decay: '1d' is timm's rule (param_groups_weight_decay: ndim <= 1); any other
    rule is a glob over the parameter name, or a module prefix (as --freeze matches names)."""
    out = []
    for name, p in model.named_parameters():
        for r in rules:
            if (r == '1d' and p.ndim <= 1) or (r != '1d' and (fnmatch.fnmatchcase(name, r) or name.startswith(r + '.'))):
                out.append(name)
                break
    return out


def optimizer(model, a):
    """timm's two parameter groups (param_groups_weight_decay): --skip-decay's weights without decay;
    with --layer-decay D, one group per (layer, decay or not) at lr · D^(L − 1 − layer) — timm's
    param_groups_layer_decay with --layer-groups' matcher (scripts/timm_layer_decay.py)."""
    skip = set(no_decay_names(model, a.skip_decay))
    if a.layer_decay is not None:
        from timm_layer_decay import MATCHERS, layer_scales
        names = [n for n, _ in model.named_parameters()]
        scale = layer_scales(names, a.layer_decay, MATCHERS[a.layer_groups])
        groups = {}
        for n, p in model.named_parameters():
            g = groups.setdefault((scale[n], n in skip), {'params': [], 'lr': a.lr * scale[n], **({'weight_decay': 0.0} if n in skip else {})})
            g['params'].append(p)
        groups = list(groups.values())
    else:
        groups = [{'params': [p for n, p in model.named_parameters() if n not in skip]}]
        if skip:
            groups.append({'params': [p for n, p in model.named_parameters() if n in skip], 'weight_decay': 0.0})
    if a.optimizer == 'sgd':
        return torch.optim.SGD(groups, lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay)
    return torch.optim.AdamW(groups, lr=a.lr, weight_decay=a.weight_decay)


def with_masks(model, a):
    """--drop-path R --masks M.bin: torchvision's StochasticDepth modules in training, at
    torchvision's rule p_i = R·i/(B − 1) for block i of B, each drawing its row mask (one value
    per sample) from M.bin in call order instead of bernoulli_ — the masks tfkd drew — and
    computing what stochastic_depth(x, p, 'row', True) does with it: noise.div_(1 − p), x * noise."""
    sds = [m for m in model.modules() if isinstance(m, torchvision.ops.StochasticDepth)]
    masks = iter(read(a.masks, '<f4', (-1, a.n)))

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        noise = next(masks).to(x.dtype).reshape([x.shape[0]] + [1] * (x.ndim - 1)).clone()
        noise.div_(1.0 - self.p)
        return x * noise
    for i, m in enumerate(sds):
        m.p = a.drop_path * i / (len(sds) - 1) if len(sds) > 1 else a.drop_path
        m.train()
        m.forward = forward.__get__(m)


def step_loss(model, x, y, soft, a):
    """The step's loss: CE; with --soft, tfkd's kd (paper fidelity); with --distill-token, DeiT's
    DistillationLoss (facebookresearch/deit losses.py) on the two heads — the base criterion on the
    class token's, the teacher's term on the distillation token's."""
    if a.distill_token:
        z, z_dist = model(x)
        if a.distill_token == 'hard':
            base = F.cross_entropy(z, y, label_smoothing=a.epsilon)  # timm's LabelSmoothingCrossEntropy
            distillation = F.cross_entropy(z_dist, soft.argmax(dim=1))  # argmax of p_t = of z_t
        else:
            base = F.cross_entropy(z, y)
            t = a.temperature
            distillation = F.kl_div(F.log_softmax(z_dist / t, dim=1), soft.log(), reduction='sum', log_target=True) * (t * t) / z_dist.numel()
        return base * (1 - a.alpha) + distillation * a.alpha
    z = model(x)
    loss = F.cross_entropy(z, y)
    if soft is not None:
        t = a.temperature
        kl = F.kl_div(F.log_softmax(z / t, dim=1), soft, reduction='batchmean')
        loss = (1 - a.alpha) * loss + a.alpha * t * t * kl
    return loss


def cmd_step(a):
    model = load(a)
    init = [('init:' + k, v.clone()) for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')]
    x = read(a.x, '<f4', (a.n, 3, a.size, a.size))
    y = read(a.y, '<i4', (a.n,)).long()
    soft = read(a.soft, '<f4', (a.n, a.classes)) if a.soft else None
    if a.double:
        # The reference in float64 (from the same float32 weights and inputs): its own rounding is
        # then far below float32's, so the comparison measures tfkd's float32 error alone.
        model.double()
        x = x.double()
        soft = soft.double() if soft is not None else None
    opt = optimizer(model, a)
    model.train()
    # The graph is an eval-mode export: Dropout and StochasticDepth (efficientnet, mobilenet_v3's
    # head) are not in it, so the reference runs them as identities too (BatchNorm stays in train mode).
    for m in model.modules():
        if isinstance(m, (torch.nn.Dropout, torchvision.ops.StochasticDepth)):
            m.eval()
    if a.drop_path is not None:
        with_masks(model, a)
    losses = []
    norms = []
    if a.distill_token:
        model.distilled_training = True
    for _ in range(a.steps):
        opt.zero_grad()
        loss = step_loss(model, x, y, soft, a)
        loss.backward()
        if a.clip_grad is not None:
            norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip_grad)))
        opt.step()
        losses.append(float(loss))
    after = [(k, v) for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')]
    write_state(a.out, after + init)
    out = {'losses': losses, 'grad_norms': norms, 'no_decay': no_decay_names(model, a.skip_decay)}
    if a.layer_decay is not None:
        from timm_layer_decay import MATCHERS, layer_ids
        out['layer_ids'] = layer_ids([n for n, _ in model.named_parameters()], MATCHERS[a.layer_groups])
    print(json.dumps(out))


def cmd_logits(a):
    model = load(a).eval()
    x = read(a.x, '<f4', (a.n, 3, a.size, a.size))
    with torch.no_grad():
        model(x).numpy().astype('<f4').tofile(a.out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    e = sub.add_parser('export')
    e.add_argument('--arch', choices=ARCHS, required=True)
    e.add_argument('--out', required=True)
    e.add_argument('--size', type=int, default=64)
    e.add_argument('--classes', type=int, default=10)
    e.add_argument('--seed', type=int, default=0)
    e.add_argument('--opset', type=int, default=17)
    e.add_argument('--channels', type=int, default=3, help='timm_vit: input channels (1 for Fashion-MNIST)')
    e.add_argument('--patch', type=int, default=8, help='timm_vit: patch size')
    e.add_argument('--width', type=int, default=192, help='timm_vit: embedding width (heads = width/64, MLP 4x)')
    e.add_argument('--depth', type=int, default=4, help='timm_vit: blocks')
    for name in ('step', 'logits'):
        s = sub.add_parser(name)
        s.add_argument('--arch', choices=ARCHS, required=True)
        s.add_argument('--pt', required=True)
        s.add_argument('--x', required=True)
        s.add_argument('--n', type=int, required=True)
        s.add_argument('--size', type=int, required=True)
        s.add_argument('--classes', type=int, required=True)
        s.add_argument('--out', required=True)
        if name == 'step':
            s.add_argument('--y', required=True)
            s.add_argument('--soft')
            s.add_argument('--lr', type=float, required=True)
            s.add_argument('--momentum', type=float, default=0.9)
            s.add_argument('--weight-decay', type=float, default=5e-4)
            s.add_argument('--steps', type=int, default=2)
            s.add_argument('--alpha', type=float, default=0.9)
            s.add_argument('--temperature', type=float, default=4.0)
            s.add_argument('--double', action='store_true')
            s.add_argument('--optimizer', choices=['sgd', 'adamw'], default='sgd')
            s.add_argument('--skip-decay', type=lambda v: [r for r in v.split(',') if r], default=[], help='rules of weights without weight decay')
            s.add_argument('--clip-grad', type=float, help='clip_grad_norm_ before each step')
            s.add_argument('--layer-decay', type=float, help="timm's layer-wise lr decay")
            s.add_argument('--layer-groups', default='vit', help='its matcher (scripts/timm_layer_decay.py MATCHERS)')
            s.add_argument('--distill-token', choices=['hard', 'soft'], help="timm_deit: DeiT's DistillationLoss on the two heads (--soft: the teacher's tempered probabilities)")
            s.add_argument('--epsilon', type=float, default=0.1, help='--distill-token hard: label smoothing of the base criterion')
            s.add_argument('--drop-path', type=float, help="StochasticDepth on, at torchvision's linear rule up to this rate, with --masks")
            s.add_argument('--masks', help='float32 row masks (N per draw, in call order) for --drop-path')
    a = p.parse_args()
    {'export': cmd_export, 'step': cmd_step, 'logits': cmd_logits}[a.cmd](a)


if __name__ == '__main__':
    sys.exit(main())
