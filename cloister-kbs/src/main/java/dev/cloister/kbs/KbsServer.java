package dev.cloister.kbs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The broker's HTTPS JSON API (docs/kbs-api.md) on the JDK's {@code com.sun.net.httpserver} with one virtual
 * thread per request (see docs/decisions.md for why). Bodies are capped, the JDK server's request and response
 * timers are set, and each token (or, for unauthenticated release calls, each client address) has a rate limit.
 */
public final class KbsServer implements AutoCloseable {
    /** Largest request body accepted. */
    public static final int MAX_BODY = 1 << 20;

    private static final Logger LOG = LoggerFactory.getLogger(KbsServer.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Base64.Decoder B64D = Base64.getDecoder();
    private static final Base64.Encoder B64 = Base64.getEncoder();

    static {
        // The JDK server reads these once; they bound slow clients (slowloris) and idle connections.
        System.setProperty("sun.net.httpserver.maxReqTime", System.getProperty("sun.net.httpserver.maxReqTime", "30"));
        System.setProperty("sun.net.httpserver.maxRspTime", System.getProperty("sun.net.httpserver.maxRspTime", "30"));
        System.setProperty("sun.net.httpserver.idleInterval", System.getProperty("sun.net.httpserver.idleInterval", "30"));
        System.setProperty("sun.net.httpserver.maxReqHeaders",
                System.getProperty("sun.net.httpserver.maxReqHeaders", "64"));
        // The server writes a response's headers and body separately; with Nagle's algorithm on, the body can wait
        // for the client's delayed ACK of the headers (up to 40 ms on Linux) on every kept-alive exchange.
        System.setProperty("sun.net.httpserver.nodelay", System.getProperty("sun.net.httpserver.nodelay", "true"));
    }

    private final KeyBroker broker;
    private final HttpsServer server;
    private final ExecutorService executor;
    private final RateLimiter limiter;
    private final Clock clock;
    private final BrokerMetrics metrics;

    private KbsServer(KeyBroker broker, HttpsServer server, ExecutorService executor, RateLimiter limiter) {
        this.broker = broker;
        this.metrics = new BrokerMetrics(broker);
        this.server = server;
        this.executor = executor;
        this.limiter = limiter;
        this.clock = broker.store().clock();
    }

    /**
     * Starts serving.
     *
     * @param listen address and port (port 0 picks a free one)
     * @param ratePerSecond sustained requests per second per token or client address (0: unlimited)
     */
    public static KbsServer start(KeyBroker broker, InetSocketAddress listen, Tls tls, double ratePerSecond)
            throws IOException {
        HttpsServer s = HttpsServer.create(listen, 1024);
        s.setHttpsConfigurator(new HttpsConfigurator(tls.serverContext(null)));
        ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor();
        s.setExecutor(ex);
        KbsServer k = new KbsServer(broker, s, ex, new RateLimiter(ratePerSecond, Math.max(10, ratePerSecond * 2)));
        s.createContext("/", k::handle);
        s.start();
        Thread.ofVirtual().name("kbs-log-prepare").start(() -> {
            try {
                broker.store().prepareLog();
            } catch (KbsException | RuntimeException e) {
                // Not fatal: the first checkpoint asked for reads the log again and reports the problem then.
                LOG.warn("could not read the audit log into its Merkle tree: {}", e.getMessage());
            }
        });
        return k;
    }

    /** The bound address (with the actual port). */
    public InetSocketAddress address() {
        return server.getAddress();
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }

    private void handle(HttpExchange x) throws IOException {
        long t0 = System.nanoTime();
        String rawPath = x.getRequestURI().getRawPath();
        boolean scrape = rawPath.equals("/metrics");
        int status;
        ObjectNode body = null;
        byte[] text = null;
        try {
            if (scrape) {
                text = scrape(x);
                status = 200;
            } else {
                body = route(x);
                status = body.has("_status") ? body.remove("_status").asInt() : 200;
            }
        } catch (KbsException e) {
            status = e.httpStatus();
            body = error(status, e.getMessage());
        } catch (CloisterException e) {
            status = e.kind() == CloisterException.Kind.DENIED ? 403
                    : e.kind() == CloisterException.Kind.BAD_INPUT ? 400 : 503;
            body = error(status, e.getMessage());
        } catch (RuntimeException e) {
            LOG.error("internal error on {} {}", x.getRequestMethod(), x.getRequestURI().getPath(), e);
            status = 500;
            body = error(500, "internal error");
        }
        byte[] out;
        if (body == null) {
            out = text;
            x.getResponseHeaders().set("Content-Type", metrics.contentType());
        } else {
            out = JSON.writeValueAsBytes(body);
            x.getResponseHeaders().set("Content-Type", "application/json");
        }
        x.getResponseHeaders().set("Cache-Control", "no-store");
        if (status == 429) {
            x.getResponseHeaders().set("Retry-After", "1");
        }
        x.sendResponseHeaders(status, out.length);
        try (var os = x.getResponseBody()) {
            os.write(out);
        }
        String[] segments = rawPath.split("/", 4);
        metrics.request(scrape ? "metrics" : segments.length > 2 && segments[1].equals("v1") ? segments[2] : "other",
                status, System.nanoTime() - t0);
    }

    /** {@code GET /metrics}: for admin and global auditor tokens (a Prometheus scraper's bearer token). */
    private byte[] scrape(HttpExchange x) throws KbsException {
        if (!x.getRequestMethod().equals("GET")) {
            throw noRoute(x.getRequestMethod(), new String[] {"metrics"});
        }
        Principal who = authenticate(x);
        limit("token:" + who.tokenId());
        if (!who.global()) {
            throw KbsException.denied("metrics need an admin or global auditor token");
        }
        return metrics.scrape();
    }

    private static ObjectNode error(int status, String message) {
        ObjectNode n = JSON.createObjectNode();
        n.put("status", status);
        n.put("error", message);
        return n;
    }

    private ObjectNode route(HttpExchange x) throws CloisterException, IOException {
        String method = x.getRequestMethod();
        String rawPath = x.getRequestURI().getRawPath();
        if (!rawPath.startsWith("/v1/")) {
            throw KbsException.notFound("no such endpoint " + rawPath);
        }
        String[] p = rawPath.substring(4).split("/", -1);
        for (int i = 0; i < p.length; i++) {
            p[i] = URLDecoder.decode(p[i], StandardCharsets.UTF_8);
        }
        String peer = x.getRemoteAddress().getAddress().getHostAddress();
        String root = p[0];
        // Unauthenticated: health, nonce and release (the evidence is the credential there).
        if (root.equals("health") && p.length == 1 && method.equals("GET")) {
            // Touches the database (503 when it is down or damaged) but reveals nothing about its contents.
            broker.store().health();
            ObjectNode n = JSON.createObjectNode();
            n.put("status", "ok");
            return n;
        }
        if (root.equals("nonce") && p.length == 1 && method.equals("GET")) {
            limit("addr:" + peer);
            byte[] nonce = broker.nonce();
            ObjectNode n = JSON.createObjectNode();
            n.put("nonce", B64.encodeToString(nonce));
            n.put("expires", clock.instant().plus(broker.nonces().ttl()).toString());
            return n;
        }
        if (root.equals("release") && p.length == 1 && method.equals("POST")) {
            limit("addr:" + peer);
            return release(readJson(x), peer);
        }
        Principal who = authenticate(x);
        limit("token:" + who.tokenId());
        return switch (root) {
            case "namespaces" -> namespaces(method, p, x, who);
            case "tokens" -> tokens(method, p, x, who);
            case "secrets" -> secrets(method, p, x, who);
            case "policies" -> policies(method, p, x, who);
            case "audit" -> audit(method, p, x, who);
            case "proposals" -> proposals(method, p, who);
            default -> throw KbsException.notFound("no such endpoint " + rawPath);
        };
    }

    private void limit(String key) throws KbsException {
        if (!limiter.tryAcquire(key, System.nanoTime())) {
            throw KbsException.rateLimited("rate limit exceeded for " + (key.startsWith("token:") ? key : "this client"));
        }
    }

    private Principal authenticate(HttpExchange x) throws KbsException {
        String h = x.getRequestHeaders().getFirst("Authorization");
        if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw KbsException.unauthorized("missing Authorization: Bearer token");
        }
        return broker.store().authenticate(h.substring(7).strip());
    }

    // ---- handlers -----------------------------------------------------------------------------------------------

    private ObjectNode release(JsonNode j, String peer) throws KbsException {
        Integer version = j.hasNonNull("version") ? positiveInt(j, "version") : null;
        ReleaseRequest r = new ReleaseRequest(text(j, "namespace"), text(j, "secret"), version, b64(j, "nonce"),
                b64(j, "evidence"), j.hasNonNull("collateral") ? b64(j, "collateral") : null,
                HpkeSuite.parse(j.hasNonNull("kem") ? text(j, "kem") : null), b64(j, "publicKey"));
        ReleaseResponse rr = broker.release(r, peer);
        ObjectNode n = JSON.createObjectNode();
        n.put("namespace", rr.namespace());
        n.put("secret", rr.name());
        n.put("version", rr.version());
        n.put("kind", rr.kind().label());
        n.put("kem", rr.kem().name());
        n.put("enc", B64.encodeToString(rr.enc()));
        n.put("ciphertext", B64.encodeToString(rr.ciphertext()));
        return n;
    }

    private ObjectNode namespaces(String method, String[] p, HttpExchange x, Principal who) throws CloisterException,
            IOException {
        if (p.length == 1 && method.equals("GET")) {
            ObjectNode n = JSON.createObjectNode();
            ArrayNode a = n.putArray("namespaces");
            broker.namespaces(who).forEach(a::add);
            return n;
        }
        if (p.length == 3 && p[2].equals("rules") && method.equals("PUT")) {
            JsonNode j = readJson(x);
            if (!j.path("policyApprovals").canConvertToInt()) {
                throw KbsException.badRequest("policyApprovals must be an integer");
            }
            broker.setPolicyApprovals(who, p[1], j.get("policyApprovals").asInt());
            ObjectNode n = JSON.createObjectNode();
            n.put("namespace", p[1]);
            n.put("policyApprovals", j.get("policyApprovals").asInt());
            return n;
        }
        if (p.length == 1 && method.equals("POST")) {
            String name = text(readJson(x), "name");
            broker.createNamespace(who, name);
            ObjectNode n = JSON.createObjectNode();
            n.put("_status", 201);
            n.put("name", name);
            return n;
        }
        throw noRoute(method, p);
    }

    private ObjectNode tokens(String method, String[] p, HttpExchange x, Principal who) throws CloisterException,
            IOException {
        if (p.length == 1 && method.equals("POST")) {
            JsonNode j = readJson(x);
            java.time.Duration ttl = null;
            if (j.has("ttlSeconds")) {
                if (!j.get("ttlSeconds").canConvertToLong() || !j.get("ttlSeconds").isIntegralNumber()) {
                    throw KbsException.badRequest("ttlSeconds must be an integer");
                }
                ttl = java.time.Duration.ofSeconds(j.get("ttlSeconds").asLong());
            }
            KbsStore.IssuedToken t = broker.createToken(who, Role.parse(text(j, "role")),
                    j.hasNonNull("namespace") ? text(j, "namespace") : null, ttl);
            ObjectNode n = JSON.createObjectNode();
            n.put("_status", 201);
            n.put("id", t.id());
            n.put("token", t.token());
            n.put("role", t.role().label());
            n.put("namespace", t.namespace());
            n.put("expires", t.expires() == null ? null : t.expires().toString());
            return n;
        }
        if (p.length == 1 && method.equals("GET")) {
            ObjectNode n = JSON.createObjectNode();
            n.set("tokens", JSON.valueToTree(broker.tokens(who)));
            return n;
        }
        if (p.length == 2 && method.equals("DELETE")) {
            broker.revokeToken(who, p[1]);
            ObjectNode n = JSON.createObjectNode();
            n.put("revoked", p[1]);
            return n;
        }
        throw noRoute(method, p);
    }

    private ObjectNode secrets(String method, String[] p, HttpExchange x, Principal who) throws CloisterException,
            IOException {
        if (p.length == 2 && method.equals("GET")) {
            ObjectNode n = JSON.createObjectNode();
            ArrayNode a = n.putArray("secrets");
            for (SecretInfo s : broker.list(who, p[1])) {
                a.add(info(s));
            }
            return n;
        }
        if ((p.length == 3 || p.length == 4 && p[3].equals("rotate")) && method.equals("POST")) {
            JsonNode j = readJson(x);
            SecretKind kind = SecretKind.parse(text(j, "kind"));
            byte[] value = j.hasNonNull("value") ? b64(j, "value") : null;
            SecretInfo s = broker.storeSecret(who, p[1], p[2], kind, value, p.length == 4);
            ObjectNode n = info(s);
            n.put("_status", 201);
            return n;
        }
        if (p.length == 6 && p[3].equals("versions") && p[5].equals("retire") && method.equals("POST")) {
            int v = parseVersion(p[4]);
            broker.retire(who, p[1], p[2], v);
            ObjectNode n = JSON.createObjectNode();
            n.put("namespace", p[1]);
            n.put("name", p[2]);
            n.put("version", v);
            n.put("active", false);
            return n;
        }
        throw noRoute(method, p);
    }

    private ObjectNode policies(String method, String[] p, HttpExchange x, Principal who) throws CloisterException,
            IOException {
        if (p.length != 3) {
            throw noRoute(method, p);
        }
        ObjectNode n = JSON.createObjectNode();
        n.put("namespace", p[1]);
        n.put("secret", p[2]);
        switch (method) {
            case "PUT" -> {
                PolicyProposal pp = broker.setPolicy(who, p[1], p[2], text(readJson(x), "policy"));
                proposalJson(n, pp);
                if (!pp.applied()) {
                    n.put("_status", 202);
                }
            }
            case "GET" -> n.put("policy", broker.policy(who, p[1], p[2]));
            default -> throw noRoute(method, p);
        }
        return n;
    }

    private ObjectNode audit(String method, String[] p, HttpExchange x, Principal who) throws CloisterException {
        if (p.length == 2 && method.equals("GET") && p[1].equals("checkpoint")) {
            ObjectNode n = JSON.createObjectNode();
            n.put("checkpoint", broker.store().checkpoint());
            n.put("key", broker.store().logVerifierKey());
            return n;
        }
        if (p.length == 2 && method.equals("GET") && p[1].equals("proof")) {
            Map<String, String> q = query(x);
            long seq = parseLong(required(q, "seq"), "seq");
            long size = parseLong(required(q, "size"), "size");
            var proof = broker.auditInclusion(who, seq, size);
            ObjectNode n = JSON.createObjectNode();
            n.set("entry", proof.getKey().toJson());
            n.put("size", size);
            ArrayNode a = n.putArray("proof");
            proof.getValue().forEach(h -> a.add(HexFormat.of().formatHex(h)));
            return n;
        }
        if (p.length == 2 && method.equals("GET") && p[1].equals("consistency")) {
            Map<String, String> q = query(x);
            long from = parseLong(required(q, "from"), "from");
            long to = parseLong(required(q, "to"), "to");
            ObjectNode n = JSON.createObjectNode();
            n.put("from", from);
            n.put("to", to);
            ArrayNode a = n.putArray("proof");
            broker.store().consistencyProof(from, to).forEach(h -> a.add(HexFormat.of().formatHex(h)));
            return n;
        }
        if (p.length == 2 && p[1].equals("verify") && method.equals("GET")) {
            AuditReport r = broker.verifyAudit(who);
            ObjectNode n = JSON.createObjectNode();
            n.put("entries", r.entries());
            n.put("intact", r.intact());
            n.set("problems", JSON.valueToTree(r.problems()));
            return n;
        }
        if (p.length == 1 && method.equals("GET")) {
            Map<String, String> q = query(x);
            long after = q.containsKey("after") ? parseLong(q.get("after"), "after") : 0;
            int limit = q.containsKey("limit") ? (int) Math.min(1000, parseLong(q.get("limit"), "limit")) : 100;
            ObjectNode n = JSON.createObjectNode();
            ArrayNode a = n.putArray("entries");
            for (AuditEntry e : broker.audit(who, after, limit)) {
                a.add(e.toJson());
            }
            return n;
        }
        throw noRoute(method, p);
    }

    private ObjectNode proposals(String method, String[] p, Principal who) throws CloisterException {
        if (p.length == 2 && method.equals("GET")) {
            ObjectNode n = JSON.createObjectNode();
            ArrayNode a = n.putArray("proposals");
            for (PolicyProposal pp : broker.proposals(who, p[1])) {
                proposalJson(a.addObject(), pp);
            }
            return n;
        }
        if (p.length == 4 && p[3].equals("approve") && method.equals("POST")) {
            return proposalJson(JSON.createObjectNode(), broker.approvePolicy(who, p[1], p[2]));
        }
        throw noRoute(method, p);
    }

    /** {@code policy}, {@code state} and, for a change that waits, its proposal id and approvals; 202 if it waits. */
    private static ObjectNode proposalJson(ObjectNode n, PolicyProposal pp) {
        n.put("policy", pp.text());
        n.put("state", pp.state());
        if (!pp.id().equals("-")) {
            n.put("proposal", pp.id());
            n.put("namespace", pp.namespace());
            n.put("secret", pp.name());
            n.set("approvers", JSON.valueToTree(pp.approvers()));
            n.put("required", pp.required());
        }
        return n;
    }

    private static String required(Map<String, String> q, String name) throws KbsException {
        String v = q.get(name);
        if (v == null) {
            throw KbsException.badRequest("missing query parameter " + name);
        }
        return v;
    }

    private static ObjectNode info(SecretInfo s) {
        ObjectNode o = JSON.createObjectNode();
        o.put("namespace", s.namespace());
        o.put("name", s.name());
        o.put("version", s.version());
        o.put("kind", s.kind().label());
        o.put("active", s.active());
        o.put("created", s.created().toString());
        if (s.retired() != null) {
            o.put("retired", s.retired().toString());
        }
        return o;
    }

    // ---- parsing helpers ----------------------------------------------------------------------------------------

    private static KbsException noRoute(String method, String[] p) {
        return KbsException.notFound("no such endpoint " + method + " /v1/" + String.join("/", p));
    }

    private static JsonNode readJson(HttpExchange x) throws KbsException, IOException {
        String ct = x.getRequestHeaders().getFirst("Content-Type");
        if (ct != null && !ct.toLowerCase(java.util.Locale.ROOT).startsWith("application/json")) {
            throw KbsException.badRequest("Content-Type must be application/json, got " + ct);
        }
        byte[] body;
        try (InputStream in = x.getRequestBody()) {
            body = in.readNBytes(MAX_BODY + 1);
        }
        if (body.length > MAX_BODY) {
            throw KbsException.tooLarge("request body exceeds " + MAX_BODY + " bytes");
        }
        try {
            JsonNode j = JSON.readTree(body);
            if (j == null || !j.isObject()) {
                throw KbsException.badRequest("request body must be a JSON object");
            }
            return j;
        } catch (JsonProcessingException e) {
            throw KbsException.badRequest("malformed JSON at line " + e.getLocation().getLineNr() + " column "
                    + e.getLocation().getColumnNr() + ": " + e.getOriginalMessage());
        }
    }

    private static String text(JsonNode j, String field) throws KbsException {
        JsonNode v = j.get(field);
        if (v == null || v.isNull()) {
            throw KbsException.badRequest("field '" + field + "' is missing");
        }
        if (!v.isTextual()) {
            throw KbsException.badRequest("field '" + field + "' must be a string");
        }
        return v.asText();
    }

    private static byte[] b64(JsonNode j, String field) throws KbsException {
        String s = text(j, field);
        try {
            return B64D.decode(s);
        } catch (IllegalArgumentException e) {
            throw KbsException.badRequest("field '" + field + "' is not base64");
        }
    }

    private static int positiveInt(JsonNode j, String field) throws KbsException {
        JsonNode v = j.get(field);
        if (!v.isInt() || v.asInt() < 1) {
            throw KbsException.badRequest("field '" + field + "' must be a positive integer");
        }
        return v.asInt();
    }

    private static int parseVersion(String s) throws KbsException {
        long v = parseLong(s, "version");
        if (v < 1 || v > Integer.MAX_VALUE) {
            throw KbsException.badRequest("version must be a positive integer, got " + s);
        }
        return (int) v;
    }

    private static long parseLong(String s, String what) throws KbsException {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw KbsException.badRequest(what + " must be an integer, got '" + s + "'");
        }
    }

    private static Map<String, String> query(HttpExchange x) {
        String q = x.getRequestURI().getRawQuery();
        java.util.Map<String, String> m = new java.util.HashMap<>();
        if (q != null) {
            for (String kv : q.split("&")) {
                int i = kv.indexOf('=');
                if (i > 0) {
                    m.put(URLDecoder.decode(kv.substring(0, i), StandardCharsets.UTF_8),
                            URLDecoder.decode(kv.substring(i + 1), StandardCharsets.UTF_8));
                }
            }
        }
        return m;
    }

}
