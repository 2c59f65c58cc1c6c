package dev.cloister.attestation.dcap;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.TeeType;
import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Objects;

/**
 * Fetches DCAP collateral from a PCCS or from Intel's PCS (API v4) and assembles it into QuoteCollateralV3 JSON,
 * with an on-disk cache. Requests: {@code /sgx|tdx/certification/v4/tcb?fmspc=}, {@code .../qe/identity},
 * {@code /sgx/certification/v4/pckcrl?ca=&encoding=der} and {@code /sgx/certification/v4/rootcacrl}; the issuer
 * chains come URL-encoded in the response headers. The signed {@code tcbInfo} / {@code enclaveIdentity} text is cut
 * out of the response byte for byte, never re-serialized.
 *
 * <p>The cache holds one file per (TEE, FMSPC, PCK CA), reused while every part is valid at the requested time.
 * In offline mode nothing is fetched: a missing or lapsed cache entry is an {@code ENVIRONMENT} error. What is
 * fetched is not trusted here; {@link DcapVerifier} checks every signature.
 */
public final class PcsCollateralProvider implements DcapVerifier.CollateralSource {
    private final URI base;
    private final Path cacheDir;
    private final boolean offline;
    private final HttpClient http;

    private PcsCollateralProvider(URI base, Path cacheDir, boolean offline) {
        this.base = base;
        this.cacheDir = cacheDir;
        this.offline = offline;
        this.http = offline ? null : HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10))
                .followRedirects(HttpClient.Redirect.NORMAL).build();
    }

    /**
     * A provider fetching from {@code baseUrl} (e.g. {@code https://api.trustedservices.intel.com} or a PCCS such
     * as {@code https://pccs.local:8081}), caching in {@code cacheDir} (null: no cache).
     */
    public static PcsCollateralProvider online(String baseUrl, Path cacheDir) {
        String b = Objects.requireNonNull(baseUrl, "baseUrl");
        while (b.endsWith("/")) {
            b = b.substring(0, b.length() - 1);
        }
        return new PcsCollateralProvider(URI.create(b), cacheDir, false);
    }

    /** A provider answering only from {@code cacheDir}. */
    public static PcsCollateralProvider offline(Path cacheDir) {
        return new PcsCollateralProvider(null, Objects.requireNonNull(cacheDir, "cacheDir"), true);
    }

    @Override
    public byte[] collateralFor(CollateralRequest req, Instant at) throws EvidenceException {
        Path cached = cacheDir == null ? null : cacheDir.resolve(
                req.teeType().name().toLowerCase() + "-" + req.fmspcHex() + "-" + req.pckCa() + ".json");
        if (cached != null && Files.isRegularFile(cached)) {
            try {
                byte[] b = Files.readAllBytes(cached);
                if (validAt(b, at)) {
                    return b;
                }
            } catch (IOException | EvidenceException e) {
                // an unreadable or stale cache entry is replaced below (or reported in offline mode)
            }
        }
        if (offline) {
            throw new EvidenceException(CloisterException.Kind.ENVIRONMENT, "offline: no cached collateral valid at "
                    + at + " for " + req.teeType() + " FMSPC " + req.fmspcHex()
                    + (cached == null ? "" : " in " + cached));
        }
        byte[] fresh = fetch(req);
        if (cached != null) {
            try {
                Files.createDirectories(cacheDir);
                AtomicFiles.writeBytes(cached, true, fresh);
            } catch (IOException e) {
                throw new EvidenceException(CloisterException.Kind.ENVIRONMENT, "cannot write the collateral cache "
                        + cached + ": " + e.getMessage(), e);
            }
        }
        return fresh;
    }

    /** Whether every dated part of the collateral covers {@code at}. */
    static boolean validAt(byte[] collateral, Instant at) throws EvidenceException {
        Collateral c = Collateral.parse(collateral);
        TcbInfo t = TcbInfo.parse(c.tcbInfo());
        QeIdentity q = QeIdentity.parse(c.qeIdentity());
        Crl root = Crl.parse(c.rootCaCrl(), "root_ca_crl");
        Crl pck = Crl.parse(c.pckCrl(), "pck_crl");
        for (Instant[] w : new Instant[][] {{t.issueDate(), t.nextUpdate()}, {q.issueDate(), q.nextUpdate()},
                {root.thisUpdate, root.nextUpdate}, {pck.thisUpdate, pck.nextUpdate}}) {
            if (at.isBefore(w[0]) || !at.isBefore(w[1])) {
                return false;
            }
        }
        return true;
    }

    private byte[] fetch(CollateralRequest req) throws EvidenceException {
        String tee = req.teeType() == TeeType.TDX ? "tdx" : "sgx";
        HttpResponse<byte[]> tcb = get("/" + tee + "/certification/v4/tcb?fmspc=" + req.fmspcHex());
        HttpResponse<byte[]> qe = get("/" + tee + "/certification/v4/qe/identity");
        HttpResponse<byte[]> pckCrl = get("/sgx/certification/v4/pckcrl?ca=" + req.pckCa() + "&encoding=der");
        HttpResponse<byte[]> rootCrl = get("/sgx/certification/v4/rootcacrl");
        String tcbBody = new String(tcb.body(), StandardCharsets.UTF_8);
        String qeBody = new String(qe.body(), StandardCharsets.UTF_8);
        String[] tcbParts = signedPart(tcbBody, "tcbInfo");
        String[] qeParts = signedPart(qeBody, "enclaveIdentity");
        Collateral c = new Collateral(
                header(pckCrl, "SGX-PCK-CRL-Issuer-Chain"),
                crlBytes(rootCrl.body(), "rootcacrl"),
                crlBytes(pckCrl.body(), "pckcrl"),
                header(tcb, "TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"),
                tcbParts[0], Json.hexValue(tcbParts[1], "tcb signature", 64),
                header(qe, "SGX-Enclave-Identity-Issuer-Chain"),
                qeParts[0], Json.hexValue(qeParts[1], "enclave identity signature", 64), null);
        return c.toBytes();
    }

    private HttpResponse<byte[]> get(String path) throws EvidenceException {
        URI uri = URI.create(base + path);
        try {
            HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30)).GET().build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            if (r.statusCode() != 200) {
                throw new EvidenceException(CloisterException.Kind.ENVIRONMENT, "GET " + uri + " answered HTTP "
                        + r.statusCode());
            }
            return r;
        } catch (IOException e) {
            throw new EvidenceException(CloisterException.Kind.ENVIRONMENT, "GET " + uri + " failed: " + e.getMessage(),
                    e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new EvidenceException(CloisterException.Kind.ENVIRONMENT, "GET " + uri + " was interrupted", e);
        }
    }

    private static String header(HttpResponse<?> r, String... names) throws EvidenceException {
        for (String n : names) {
            var v = r.headers().firstValue(n);
            if (v.isPresent()) {
                return URLDecoder.decode(v.get(), StandardCharsets.UTF_8);
            }
        }
        throw EvidenceException.malformed(r.uri() + " has no " + names[0] + " header");
    }

    /** A CRL body as DER; PCS/PCCS send DER, PEM or hex depending on version and parameters. */
    static byte[] crlBytes(byte[] body, String what) throws EvidenceException {
        if (body.length > 0 && body[0] == 0x30) {
            return body;
        }
        String s = new String(body, StandardCharsets.US_ASCII).strip();
        if (s.startsWith("-----BEGIN")) {
            String b64 = s.replaceAll("-----[A-Z0-9 ]+-----", "").replaceAll("\\s", "");
            try {
                return java.util.Base64.getDecoder().decode(b64);
            } catch (IllegalArgumentException e) {
                throw EvidenceException.malformed(what + " is neither DER, PEM nor hex");
            }
        }
        try {
            return HexFormat.of().parseHex(s);
        } catch (IllegalArgumentException e) {
            throw EvidenceException.malformed(what + " is neither DER, PEM nor hex");
        }
    }

    /** The exact text of the object under {@code key} and the "signature" string of a PCS response. */
    static String[] signedPart(String body, String key) throws EvidenceException {
        try (JsonParser p = Json.MAPPER.getFactory().createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw EvidenceException.malformed("PCS response is not a JSON object");
            }
            String text = null;
            String sig = null;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken t = p.nextToken();
                if (name.equals(key) && t == JsonToken.START_OBJECT) {
                    int start = (int) p.currentTokenLocation().getCharOffset();
                    p.skipChildren();
                    int end = (int) p.currentLocation().getCharOffset();
                    text = body.substring(start, end);
                } else if (name.equals("signature") && t == JsonToken.VALUE_STRING) {
                    sig = p.getText();
                } else {
                    p.skipChildren();
                }
            }
            if (text == null || sig == null) {
                throw EvidenceException.malformed("PCS response lacks " + key + " or signature");
            }
            return new String[] {text, sig};
        } catch (IOException e) {
            throw EvidenceException.malformed("PCS response is not valid JSON: " + e.getMessage());
        }
    }
}
