/**
 * G.711 µ-law and A-law to 16-bit linear PCM (ITU-T G.711, as in the reference g711.c):
 * the two 8 kHz telephone codings the Realtime API accepts as `g711_ulaw` and `g711_alaw`.
 * Each byte maps to one sample, so decoding is a 256-entry table.
 */

function ulawSample(byte: number): number {
  const u = ~byte & 0xff;
  let magnitude = ((u & 0x0f) << 3) + 0x84;
  magnitude <<= (u & 0x70) >> 4;
  return u & 0x80 ? 0x84 - magnitude : magnitude - 0x84;
}

function alawSample(byte: number): number {
  const a = byte ^ 0x55;
  const segment = (a & 0x70) >> 4;
  let magnitude = (a & 0x0f) << 4;
  if (segment === 0) magnitude += 8;
  else magnitude = (magnitude + 0x108) << (segment - 1);
  return a & 0x80 ? magnitude : -magnitude;
}

const ULAW = Int16Array.from({ length: 256 }, (_, i) => ulawSample(i));
const ALAW = Int16Array.from({ length: 256 }, (_, i) => alawSample(i));

export function decodeUlaw(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = ULAW[bytes[i] as number] as number;
  return out;
}

export function decodeAlaw(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = ALAW[bytes[i] as number] as number;
  return out;
}
