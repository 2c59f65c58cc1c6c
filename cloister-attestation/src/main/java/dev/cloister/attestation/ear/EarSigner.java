package dev.cloister.attestation.ear;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.KeyUse;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.io.IOException;
import java.io.StringReader;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.interfaces.ECPrivateKey;
import java.security.spec.ECPublicKeySpec;
import java.security.spec.PKCS8EncodedKeySpec;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x9.X9ECParameters;
import org.bouncycastle.crypto.ec.CustomNamedCurves;
import org.bouncycastle.math.ec.ECPoint;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import java.security.interfaces.ECPublicKey;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Signs {@link EarToken}s as ES256 (P-256) JWTs with nimbus-jose-jwt and publishes the public key as a JWKS. The
 * key id is the key's RFC 7638 thumbprint, so the same key always gets the same {@code kid}.
 */
public final class EarSigner {
    private final ECKey key;

    /** @throws IllegalArgumentException when the key pair is not P-256 */
    public EarSigner(ECPublicKey pub, ECPrivateKey priv) {
        try {
            ECKey k = new ECKey.Builder(Curve.P_256, pub).privateKey(priv).keyUse(KeyUse.SIGNATURE)
                    .algorithm(JWSAlgorithm.ES256).build();
            this.key = new ECKey.Builder(k).keyIDFromThumbprint().build();
        } catch (JOSEException | IllegalStateException e) {
            throw new IllegalArgumentException("not a P-256 key pair", e);
        }
        if (!Curve.P_256.equals(Curve.forECParameterSpec(pub.getParams()))) {
            throw new IllegalArgumentException("the EAR signing key must be P-256");
        }
    }

    /**
     * Reads a PEM file's text holding a P-256 private key (PKCS#8 or SEC1, as {@code openssl genpkey} / {@code
     * openssl ecparam -genkey} write it).
     *
     * @throws IllegalArgumentException when it is not one P-256 private key
     */
    public static EarSigner fromPem(String pem) {
        PrivateKeyInfo info;
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            Object o = parser.readObject();
            if (parser.readObject() != null) {
                throw new IllegalArgumentException("the EAR key file must hold exactly one PEM object");
            }
            if (o instanceof PEMKeyPair kp) {
                info = kp.getPrivateKeyInfo();
            } else if (o instanceof PrivateKeyInfo pki) {
                info = pki;
            } else {
                throw new IllegalArgumentException("not a PEM EC private key");
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof IllegalArgumentException iae) {
                throw iae;
            }
            throw new IllegalArgumentException("not a PEM EC private key");
        }
        try {
            KeyFactory kf = KeyFactory.getInstance("EC");
            PrivateKey k = kf.generatePrivate(new PKCS8EncodedKeySpec(info.getEncoded()));
            if (!(k instanceof ECPrivateKey priv) || !Curve.P_256.equals(Curve.forECParameterSpec(priv.getParams()))) {
                throw new IllegalArgumentException("the EAR signing key must be a P-256 private key");
            }
            // Derive the public point Q = d*G: a PKCS#8 file need not carry the public key.
            X9ECParameters x9 = CustomNamedCurves.getByName("secp256r1");
            ECPoint q = x9.getG().multiply(priv.getS()).normalize();
            ECPublicKey pub = (ECPublicKey) kf.generatePublic(new ECPublicKeySpec(new java.security.spec.ECPoint(
                    q.getAffineXCoord().toBigInteger(), q.getAffineYCoord().toBigInteger()), priv.getParams()));
            return new EarSigner(pub, priv);
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalArgumentException("not a usable P-256 private key");
        }
    }

    /** The key id placed in every token header and in the JWKS. */
    public String keyId() {
        return key.getKeyID();
    }

    /** The public key as a JWKS document ({@code {"keys":[...]}}), private parts never included. */
    public String jwks() {
        return new JWKSet(key.toPublicJWK()).toString(true);
    }

    /** The compact JWS of the token. */
    public String sign(EarToken t) {
        Map<String, Object> verifierId = new LinkedHashMap<>();
        verifierId.put("build", t.verifierBuild());
        verifierId.put("developer", t.verifierDeveloper());
        Map<String, Object> sub = new LinkedHashMap<>();
        sub.put("ear.status", t.status().wire());
        sub.put("ear.trustworthiness-vector", t.trustVector().toClaims());
        sub.put("ear.appraisal-policy-id", t.policyId());
        sub.put("cloister.tee", t.tee().name());
        sub.put("cloister.tcb-status", t.tcbStatus().intelName());
        sub.put("cloister.simulated", t.simulated());
        sub.put("cloister.measurements", new LinkedHashMap<>(new java.util.TreeMap<>(t.measurements())));
        sub.put("cloister.report-data", t.reportDataHex());
        sub.put("cloister.advisory-ids", t.advisoryIds());
        JWTClaimsSet claims = new JWTClaimsSet.Builder()
                .claim("eat_profile", EarToken.PROFILE)
                .issueTime(Date.from(t.issuedAt()))
                .expirationTime(Date.from(t.expiresAt()))
                .claim("ear.verifier-id", verifierId)
                .claim("submods", Map.of(t.submod(), sub))
                .build();
        SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.ES256).type(JOSEObjectType.JWT)
                .keyID(key.getKeyID()).build(), claims);
        try {
            jwt.sign(new ECDSASigner(key));
        } catch (JOSEException e) {
            throw new IllegalStateException("ES256 signing failed", e);
        }
        return jwt.serialize();
    }
}
