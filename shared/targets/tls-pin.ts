import { createHash } from 'node:crypto';
import { z } from 'zod';

/** PEM certificate(s), e.g. of the CA that signed a server's certificate. */
export const PemCertificateSchema = z
  .string()
  .max(100_000)
  .refine((v) => v.includes('-----BEGIN CERTIFICATE-----'), { message: 'expected a PEM certificate' });

/**
 * A certificate's SHA-256 fingerprint as `openssl x509 -noout -fingerprint -sha256` prints it
 * (`AB:CD:…`, 32 bytes) or as plain hex; kept in the first form, upper case.
 */
export const CertificateSha256Schema = z
  .string()
  .trim()
  .regex(/^(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$/, {
    message:
      'expected a SHA-256 fingerprint: 32 hex bytes, AB:CD:… as openssl -fingerprint -sha256 prints it',
  })
  .transform((v) => normalizeCertificateSha256(v));

export const normalizeCertificateSha256 = (value: string): string =>
  (value.replace(/:/g, '').toUpperCase().match(/../g) ?? []).join(':');

/** The SHA-256 fingerprint of a DER certificate, in the form above (Node's `fingerprint256`). */
export const certificateSha256Of = (der: Buffer): string =>
  normalizeCertificateSha256(createHash('sha256').update(der).digest('hex'));

/** A short digest of a CA bundle, to tell two trust settings apart in an endpoint. */
export const caDigest = (pem: string): string =>
  createHash('sha256').update(pem.replace(/\r/g, '').trim()).digest('hex').slice(0, 16);
