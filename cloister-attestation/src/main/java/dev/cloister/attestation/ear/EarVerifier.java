package dev.cloister.attestation.ear;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.ECDSAVerifier;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TeeType;
import java.text.ParseException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Verifies EAR JWTs against a JWKS and parses them strictly. Only ES256 with a P-256 key from the set is accepted:
 * the algorithm is fixed here, never taken from the token, so {@code none} and HS256-with-the-public-key tokens
 * are refused. A token past {@code exp} is refused.
 */
public final class EarVerifier {
    private static final Set<String> SUBMOD_CLAIMS = Set.of("ear.status", "ear.trustworthiness-vector",
            "ear.appraisal-policy-id", "cloister.tee", "cloister.tcb-status", "cloister.simulated",
            "cloister.measurements", "cloister.report-data", "cloister.advisory-ids");

    private final Map<String, ECKey> keys = new LinkedHashMap<>();

    /** @throws IllegalArgumentException when the JWKS is malformed or holds no P-256 signing key */
    public EarVerifier(String jwks) {
        JWKSet set;
        try {
            set = JWKSet.parse(jwks);
        } catch (ParseException e) {
            throw new IllegalArgumentException("malformed JWKS: " + e.getMessage());
        }
        for (JWK k : set.getKeys()) {
            if (k instanceof ECKey ec && Curve.P_256.equals(ec.getCurve()) && ec.getKeyID() != null) {
                keys.put(ec.getKeyID(), ec.toPublicJWK());
            }
        }
        if (keys.isEmpty()) {
            throw new IllegalArgumentException("JWKS holds no P-256 key with a kid");
        }
    }

    /** Verifies the signature and lifetime at {@code now} and returns the parsed token. */
    public EarToken verify(String token, Instant now) throws EarException {
        SignedJWT jwt;
        try {
            jwt = SignedJWT.parse(token.strip());
        } catch (ParseException | RuntimeException e) {
            throw new EarException("not a signed JWT");
        }
        JWSHeader h = jwt.getHeader();
        if (!JWSAlgorithm.ES256.equals(h.getAlgorithm())) {
            throw new EarException("token algorithm " + h.getAlgorithm() + " refused: only ES256 is accepted");
        }
        if (h.getCriticalParams() != null && !h.getCriticalParams().isEmpty()) {
            throw new EarException("token has critical header parameters, none are understood");
        }
        ECKey key = h.getKeyID() == null ? null : keys.get(h.getKeyID());
        if (key == null) {
            throw new EarException("token key id is not in the JWKS");
        }
        try {
            if (!jwt.verify(new ECDSAVerifier(key))) {
                throw new EarException("token signature does not verify");
            }
        } catch (JOSEException e) {
            throw new EarException("token signature does not verify");
        }
        try {
            return parse(jwt.getJWTClaimsSet(), now);
        } catch (ParseException | RuntimeException e) {
            throw new EarException("malformed EAR claims: " + e.getMessage());
        }
    }

    @SuppressWarnings("unchecked")
    private static EarToken parse(JWTClaimsSet c, Instant now) throws EarException, ParseException {
        if (!EarToken.PROFILE.equals(c.getStringClaim("eat_profile"))) {
            throw new EarException("eat_profile is not " + EarToken.PROFILE);
        }
        Date iat = c.getIssueTime();
        Date exp = c.getExpirationTime();
        if (iat == null || exp == null) {
            throw new EarException("iat and exp are required");
        }
        if (!now.isBefore(exp.toInstant())) {
            throw new EarException("token expired at " + exp.toInstant());
        }
        Map<String, Object> vid = c.getJSONObjectClaim("ear.verifier-id");
        Map<String, Object> submods = c.getJSONObjectClaim("submods");
        if (vid == null || submods == null || submods.size() != 1) {
            throw new EarException("ear.verifier-id and exactly one submodule are required");
        }
        Map.Entry<String, Object> e = submods.entrySet().iterator().next();
        Map<String, Object> s = (Map<String, Object>) e.getValue();
        if (!SUBMOD_CLAIMS.equals(s.keySet())) {
            throw new EarException("submodule claims are not the expected set: " + s.keySet());
        }
        Map<String, String> meas = new LinkedHashMap<>();
        ((Map<String, Object>) s.get("cloister.measurements")).forEach((k, v) -> meas.put(k, (String) v));
        List<String> adv = new ArrayList<>();
        ((List<Object>) s.get("cloister.advisory-ids")).forEach(a -> adv.add((String) a));
        return new EarToken(iat.toInstant(), exp.toInstant(), (String) vid.get("build"), (String) vid.get("developer"),
                e.getKey(), EarStatus.fromWire((String) s.get("ear.status")),
                TrustVector.fromClaims((Map<String, Object>) s.get("ear.trustworthiness-vector")),
                (String) s.get("ear.appraisal-policy-id"), TeeType.valueOf((String) s.get("cloister.tee")),
                TcbStatus.fromIntelName((String) s.get("cloister.tcb-status")), (Boolean) s.get("cloister.simulated"),
                meas, (String) s.get("cloister.report-data"), adv);
    }
}
