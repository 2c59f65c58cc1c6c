// Independent check of a Cloister EAR with the npm `jose` package (panva/jose), which no one here wrote.
// Usage: node verify_ear.mjs JWKS_FILE TOKEN_FILE NOW_EPOCH_SECONDS
// Prints the verified payload as JSON and exits 0, or prints the error and exits 1.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify } from 'jose';

const [jwksFile, tokenFile, now] = process.argv.slice(2);
const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8')));
try {
  const { payload, protectedHeader } = await jwtVerify(readFileSync(tokenFile, 'utf8').trim(), jwks, {
    algorithms: ['ES256'],
    currentDate: new Date(Number(now) * 1000),
    requiredClaims: ['iat', 'exp', 'eat_profile', 'submods'],
  });
  if (payload.eat_profile !== 'tag:github.com,2023:veraison/ear') throw new Error('wrong eat_profile');
  console.log(JSON.stringify({ alg: protectedHeader.alg, payload }));
} catch (e) {
  console.error(`${e.code ?? ''} ${e.message}`);
  process.exit(1);
}
