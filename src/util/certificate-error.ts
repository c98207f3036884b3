// Telling a certificate the client does not trust from other connection failures: retrying cannot fix it,
// and the person reading the error needs to know to give the CA (the client's `ca`, the CLI's --ca).

// OpenSSL's verification codes as Node reports them (DEPTH_ZERO_SELF_SIGNED_CERT, CERT_HAS_EXPIRED,
// UNABLE_TO_VERIFY_LEAF_SIGNATURE, UNABLE_TO_GET_ISSUER_CERT_LOCALLY, ...), and a name that does not match
// (ERR_TLS_CERT_ALTNAME_INVALID).
const CERTIFICATE_CODE = /CERT|SIGNATURE|ISSUER/;

/** The verification code of `e` when it is a certificate the connection would not trust, else undefined. */
export function certificateErrorCode(e: unknown): string | undefined {
  const code = typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
  return code !== undefined && CERTIFICATE_CODE.test(code) ? code : undefined;
}
