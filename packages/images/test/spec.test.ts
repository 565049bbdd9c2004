import { describe, expect, test } from 'vitest';
import {
  canonicalJson,
  decodeSpec,
  encodeSpec,
  ImageErrorCodes,
  isImageError,
  isValidBlobKey,
  parseSpec,
  resolveFormat,
  specKey,
  toCloudinaryEager,
  toCloudinaryTransformation,
} from '../src/index.js';

function invalid(input: unknown): string {
  try {
    parseSpec(input);
  } catch (err) {
    expect(isImageError(err, ImageErrorCodes.INVALID_SPEC)).toBe(true);
    return (err as Error).message;
  }
  throw new Error('spec was accepted');
}

describe('spec validation', () => {
  test('accepts every step type and fills defaults', () => {
    const s = parseSpec({
      v: 1,
      steps: [
        { op: 'resize', mode: 'fill', width: 320, height: 200 },
        { op: 'crop', width: 100, height: 100 },
        { op: 'rotate', angle: -90 },
        { op: 'flip', axis: 'horizontal' },
        { op: 'blur', sigma: 2 },
        { op: 'grayscale' },
        { op: 'round', radius: 'max' },
        { op: 'resize', mode: 'pad', width: 50, height: 40, background: '#FF0000' },
      ],
      output: { format: 'webp', quality: 70 },
    });
    expect(s.steps[0]).toEqual({ op: 'resize', mode: 'fill', width: 320, height: 200, gravity: 'center' });
    expect(s.steps[1]).toEqual({ op: 'crop', width: 100, height: 100, gravity: 'center' });
    expect(s.steps[2]).toEqual({ op: 'rotate', angle: 270 });
    expect(s.steps[7]).toEqual({ op: 'resize', mode: 'pad', width: 50, height: 40, gravity: 'center', background: '#ff0000' });
    expect(parseSpec({ v: 1 })).toEqual({ v: 1, steps: [], output: { format: 'original' } });
  });

  test('refuses bad input with INVALID_SPEC naming the field', () => {
    expect(invalid({ v: 2 })).toMatch(/spec\.v/);
    expect(invalid({ v: 1, steps: [{ op: 'explode' }] })).toMatch(/steps\.0/);
    expect(invalid({ v: 1, steps: [{ op: 'resize', mode: 'fill', width: 10 }] })).toMatch(/needs width and height/);
    expect(invalid({ v: 1, steps: [{ op: 'resize', mode: 'scale' }] })).toMatch(/needs width or height/);
    expect(invalid({ v: 1, steps: [{ op: 'resize', mode: 'scale', width: 100_000 }] })).toMatch(/width/);
    expect(invalid({ v: 1, steps: [{ op: 'crop', width: 10, height: 10, x: 1 }] })).toMatch(/both x and y/);
    expect(invalid({ v: 1, output: { format: 'bmp' } })).toMatch(/format/);
    expect(invalid({ v: 1, output: { format: 'jpeg', quality: 0 } })).toMatch(/quality/);
    expect(invalid({ v: 1, extra: true })).toMatch(/additional/);
    expect(invalid({ v: 1, steps: Array(17).fill({ op: 'grayscale' }) })).toMatch(/steps/);
    expect(invalid('nope')).toMatch(/object/);
  });
});

describe('canonical form', () => {
  test('key order, defaults and irrelevant options do not change the key', () => {
    const a = parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fill', width: 10, height: 20 }], output: { format: 'png', quality: 50 } });
    const b = parseSpec({
      output: { format: 'png' },
      steps: [{ height: 20, width: 10, gravity: 'center', mode: 'fill', op: 'resize' }],
      v: 1,
    });
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(specKey(a)).toBe(specKey(b));
    expect(specKey(a)).toMatch(/^[A-Za-z0-9_-]{16}$/);
    const c = parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fill', width: 10, height: 21 }], output: { format: 'png' } });
    expect(specKey(c)).not.toBe(specKey(a));
    expect(canonicalJson(a)).toBe(
      '{"output":{"format":"png"},"steps":[{"gravity":"center","height":20,"mode":"fill","op":"resize","width":10}],"v":1}',
    );
  });

  test('a spec key is always a valid blob key segment (derived keys are <prefix>/<spec key>/<key>)', () => {
    // This spec's hash starts with '_' in base64url: as a derived key segment it was refused.
    const s = parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fit', width: 30 }], output: { format: 'auto' } });
    expect(specKey(s)).toMatch(/^0_[A-Za-z0-9_-]{15}$/);
    for (let w = 1; w <= 300; w++) {
      const k = specKey(parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fit', width: w }], output: { format: 'png' } }));
      expect(isValidBlobKey(`derived/${k}/uploads/x.png`)).toBe(true);
    }
  });

  test('URL encoding round-trips and rejects garbage', () => {
    const s = parseSpec({ v: 1, steps: [{ op: 'blur', sigma: 1.5 }], output: { format: 'auto' } });
    const enc = encodeSpec(s);
    expect(enc).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeSpec(enc)).toEqual(s);
    expect(() => decodeSpec('a/b')).toThrow(expect.objectContaining({ code: 'INVALID_SPEC' }));
    expect(() => decodeSpec(Buffer.from('{"v":9}').toString('base64url'))).toThrow(expect.objectContaining({ code: 'INVALID_SPEC' }));
  });

  test('auto format negotiation', () => {
    expect(resolveFormat('auto', 'jpeg', 'image/avif,image/webp,*/*')).toBe('avif');
    expect(resolveFormat('auto', 'jpeg', 'image/webp,*/*')).toBe('webp');
    expect(resolveFormat('auto', 'jpeg', '*/*')).toBe('jpeg');
    // q=0 is a refusal, not a mention; the higher q-value wins between AVIF and WebP.
    expect(resolveFormat('auto', 'jpeg', 'image/avif;q=0,image/webp,*/*')).toBe('webp');
    expect(resolveFormat('auto', 'jpeg', 'image/avif; q=0, image/webp;q=0, */*')).toBe('jpeg');
    expect(resolveFormat('auto', 'jpeg', 'image/avif;q=0.5,image/webp;q=0.9')).toBe('webp');
    expect(resolveFormat('auto', 'jpeg', 'IMAGE/AVIF;Q=0.8,image/webp;q=0.8')).toBe('avif');
    expect(resolveFormat('auto', 'png', 'image/*')).toBe('png');
    expect(resolveFormat('original', 'gif')).toBe('gif');
  });

  test('auto keeps an animation animated: WebP when accepted, else GIF, never a still AVIF or PNG', () => {
    const animated = { animated: true };
    expect(resolveFormat('auto', 'gif', 'image/avif,image/webp,*/*', animated)).toBe('webp');
    expect(resolveFormat('auto', 'webp', 'image/avif,image/webp;q=0.5', animated)).toBe('webp');
    expect(resolveFormat('auto', 'gif', '*/*', animated)).toBe('gif');
    expect(resolveFormat('auto', 'webp', 'image/avif,image/webp;q=0,*/*', animated)).toBe('gif');
    expect(resolveFormat('auto', 'gif', undefined, animated)).toBe('webp');
    // A still GIF is negotiated like any still image.
    expect(resolveFormat('auto', 'gif', 'image/avif,image/webp,*/*', { animated: false })).toBe('avif');
    expect(resolveFormat('auto', 'gif', '*/*')).toBe('png');
  });
});

describe('Cloudinary mapping', () => {
  const map = (steps: unknown[], output: unknown = { format: 'original' }): string =>
    toCloudinaryTransformation(parseSpec({ v: 1, steps, output }));
  test('resize modes', () => {
    expect(map([{ op: 'resize', mode: 'fill', width: 320, height: 320 }], { format: 'jpeg', quality: 80 })).toBe(
      'c_fill,g_center,h_320,w_320/f_jpg,q_80',
    );
    expect(map([{ op: 'resize', mode: 'fill', width: 10, height: 20, gravity: 'northeast' }])).toBe('c_fill,g_north_east,h_20,w_10');
    expect(map([{ op: 'resize', mode: 'fill', width: 10, height: 20, gravity: 'auto' }])).toBe('c_fill,g_auto,h_20,w_10');
    expect(map([{ op: 'resize', mode: 'scale', width: 100 }])).toBe('c_scale,w_100');
    expect(map([{ op: 'resize', mode: 'fit', width: 100, height: 50 }])).toBe('c_fit,h_50,w_100');
    expect(map([{ op: 'resize', mode: 'limit', width: 1280 }], { format: 'webp' })).toBe('c_limit,w_1280/f_webp');
    expect(map([{ op: 'resize', mode: 'pad', width: 10, height: 10, background: '#00ff00' }])).toBe(
      'b_rgb:00ff00,c_pad,g_center,h_10,w_10',
    );
  });
  test('other steps, chained in order', () => {
    expect(
      map(
        [
          { op: 'crop', width: 50, height: 40, x: 5, y: 6 },
          { op: 'rotate', angle: 90 },
          { op: 'flip', axis: 'vertical' },
          { op: 'blur', sigma: 5 },
          { op: 'grayscale' },
          { op: 'round', radius: 12 },
        ],
        { format: 'avif' },
      ),
    ).toBe('c_crop,h_40,w_50,x_5,y_6/a_90/a_vflip/e_blur:100/e_grayscale/r_12/f_avif');
    expect(
      map([
        { op: 'round', radius: 'max' },
        { op: 'crop', width: 5, height: 5, gravity: 'south' },
      ]),
    ).toBe('r_max/c_crop,g_south,h_5,w_5');
  });
  test('auto format: f_auto on delivery URLs, a fallback for eager', () => {
    const s = parseSpec({ v: 1, output: { format: 'auto' } });
    expect(toCloudinaryTransformation(s, { context: 'delivery' })).toBe('f_auto');
    expect(toCloudinaryTransformation(s)).toBe('f_webp');
    expect(toCloudinaryEager([s, parseSpec({ v: 1, output: { format: 'png' } })])).toBe('f_webp|f_png');
  });
  test('an animated source: fl_awebp (with fl_animated) keeps WebP animated; f_auto gets fl_animated; GIF needs no flag', () => {
    const webp = parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fit', width: 30 }], output: { format: 'webp', quality: 70 } });
    expect(toCloudinaryTransformation(webp, { animated: true })).toBe('c_fit,w_30/f_webp,fl_animated.awebp,q_70');
    expect(toCloudinaryTransformation(webp)).toBe('c_fit,w_30/f_webp,q_70');
    const auto = parseSpec({ v: 1, output: { format: 'auto' } });
    expect(toCloudinaryTransformation(auto, { animated: true })).toBe('f_webp,fl_animated.awebp');
    expect(toCloudinaryTransformation(auto, { animated: true, context: 'delivery' })).toBe('f_auto,fl_animated');
    expect(toCloudinaryTransformation(parseSpec({ v: 1, output: { format: 'gif' } }), { animated: true })).toBe('f_gif');
    expect(toCloudinaryTransformation(parseSpec({ v: 1, output: { format: 'jpeg' } }), { animated: true })).toBe('f_jpg');
  });
});
