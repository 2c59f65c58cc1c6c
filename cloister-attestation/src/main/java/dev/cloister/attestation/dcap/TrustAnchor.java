package dev.cloister.attestation.dcap;

import java.util.Base64;
import java.util.HexFormat;
import java.util.Objects;

/**
 * A root certificate the verifier accepts chains to. The verifier pins the root's public key, as Intel's QvE does,
 * and reports the anchor's {@code name} as the root used.
 *
 * @param name what results call this root, e.g. {@code Intel SGX Root CA}
 * @param certificateDer the root certificate, DER
 * @param simulated true for Cloister's simulation root: evidence under it is marked simulated
 */
public record TrustAnchor(String name, byte[] certificateDer, boolean simulated) {
    /** SHA-256 of the DER of Intel's production SGX Root CA, as published by Intel. */
    public static final String INTEL_ROOT_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3";

    // Intel SGX Root CA (public certificate; identical to Intel's download and to copies in dcap-qvl and go-tdx-guest).
    private static final String INTEL_ROOT_B64 =
            "MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIwaDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYTAlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi71OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOBuzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJMEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SVUr9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYIKoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwgAiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=";

    public TrustAnchor {
        Objects.requireNonNull(name, "name");
        certificateDer = Objects.requireNonNull(certificateDer, "certificateDer").clone();
    }

    @Override
    public byte[] certificateDer() {
        return certificateDer.clone();
    }

    /** Intel's production SGX Root CA, checked against its published fingerprint. */
    public static TrustAnchor intel() {
        byte[] der = Base64.getDecoder().decode(INTEL_ROOT_B64);
        String fp = HexFormat.of().formatHex(Ecdsa.sha256(der));
        if (!fp.equals(INTEL_ROOT_SHA256)) {
            throw new IllegalStateException("embedded Intel root has fingerprint " + fp);
        }
        return new TrustAnchor("Intel SGX Root CA", der, false);
    }
}
