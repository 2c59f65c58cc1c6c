package dev.cloister.bundle;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * {@code cloister.json}: the bundle's description, written with fixed field order, two-space indentation and LF
 * line ends so that it is byte-identical for identical inputs, and read back strictly (every field required,
 * every type checked, errors name the field).
 */
final class BundleJson {
    static final String FORMAT = "cloister-bundle/1";
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private BundleJson() {}

    /** The bundle's description; {@code gramine} is present when it was built with {@code --gramine}. */
    record Doc(String name, String version, String measurement, BundleSpec spec, Optional<GramineInfo> gramine) {
        Doc(String name, String version, String measurement, BundleSpec spec) {
            this(name, version, measurement, spec, Optional.empty());
        }
    }

    /**
     * What a build with a Gramine installation recorded.
     *
     * @param mrenclave  Gramine's MRENCLAVE (hex)
     * @param hostHashes SHA-256 of Gramine's own files the {@code .manifest.sgx} pins, by host path
     */
    record GramineInfo(String mrenclave, SortedMap<String, String> hostHashes) {
        GramineInfo {
            hostHashes = java.util.Collections.unmodifiableSortedMap(new TreeMap<>(hostHashes));
        }
    }

    static byte[] write(Doc d) {
        ObjectNode o = MAPPER.createObjectNode();
        o.put("format", FORMAT);
        o.put("name", d.name());
        o.put("version", d.version());
        o.put("entrypoint", d.spec().entrypoint());
        o.put("measurement", d.measurement());
        o.put("manifest", Bundle.MANIFEST);
        BundleSpec s = d.spec();
        ObjectNode spec = o.putObject("spec");
        strings(spec.putArray("argv"), s.argv());
        ObjectNode env = spec.putObject("env");
        s.env().forEach(env::put);
        strings(spec.putArray("passthroughEnv"), s.passthroughEnv());
        strings(spec.putArray("allowedFiles"), s.allowedFiles());
        spec.put("enclaveSize", s.enclaveSize());
        spec.put("maxThreads", s.maxThreads());
        spec.put("isvProdId", s.isvProdId());
        spec.put("isvSvn", s.isvSvn());
        spec.put("libos", s.libos());
        s.libosSha256().ifPresent(h -> spec.put("libosSha256", h));
        spec.put("inputsPath", s.inputsPath());
        spec.put("outputsPath", s.outputsPath());
        spec.put("keyBroker", s.keyBroker());
        spec.put("gramineRuntime", s.gramineRuntime());
        ArrayNode files = spec.putArray("files");
        for (BundleFile f : s.files()) {
            ObjectNode fo = files.addObject();
            fo.put("path", f.path());
            fo.put("sha256", f.sha256());
            fo.put("size", f.size());
            fo.put("executable", f.executable());
        }
        d.gramine().ifPresent(g -> {
            ObjectNode go = o.putObject("gramine");
            go.put("mrenclave", g.mrenclave());
            go.put("manifestSgx", Bundle.MANIFEST_SGX);
            ObjectNode hh = go.putObject("hostHashes");
            g.hostHashes().forEach(hh::put);
        });
        DefaultPrettyPrinter pp = new DefaultPrettyPrinter()
                .withObjectIndenter(new DefaultIndenter("  ", "\n"))
                .withArrayIndenter(new DefaultIndenter("  ", "\n"));
        try {
            return (MAPPER.writer(pp).writeValueAsString(o) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot render cloister.json", e);
        }
    }

    static Doc parse(byte[] bytes, String name) throws BundleException {
        JsonNode o;
        try {
            o = MAPPER.readTree(bytes);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw BundleException.badInput(name + " is not valid JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw BundleException.badInput(name + " is not valid JSON: " + e.getMessage());
        }
        if (o == null || !o.isObject()) {
            throw BundleException.badInput(name + " is not a JSON object");
        }
        String format = text(o, "format", name);
        if (!format.equals(FORMAT)) {
            throw BundleException.badInput(name + ": unsupported format " + format + " (expected " + FORMAT + ")");
        }
        JsonNode s = field(o, "spec", name);
        List<BundleFile> files = new ArrayList<>();
        JsonNode fa = field(s, "files", name);
        if (!fa.isArray()) {
            throw BundleException.badInput(name + ": spec.files is not an array");
        }
        for (JsonNode f : fa) {
            String path = text(f, "path", name);
            String sha = text(f, "sha256", name);
            if (!sha.matches("[0-9a-f]{64}")) {
                throw BundleException.badInput(name + ": sha256 of " + path + " is not 64 hex digits");
            }
            JsonNode size = field(f, "size", name);
            JsonNode exec = field(f, "executable", name);
            if (!size.canConvertToLong() || !size.isIntegralNumber() || size.asLong() < 0 || !exec.isBoolean()) {
                throw BundleException.badInput(name + ": size/executable of " + path + " malformed");
            }
            if (!path.startsWith("/") || !Namespace.normalize(path).equals(path) || path.equals("/")) {
                throw BundleException.badInput(name + ": file path " + path + " is not a normalised absolute path");
            }
            files.add(new BundleFile(path, sha, size.asLong(), exec.asBoolean()));
        }
        SortedMap<String, String> env = new TreeMap<>();
        JsonNode en = field(s, "env", name);
        if (!en.isObject()) {
            throw BundleException.badInput(name + ": spec.env is not an object");
        }
        for (var it = en.fields(); it.hasNext();) {
            var e = it.next();
            if (!e.getValue().isTextual()) {
                throw BundleException.badInput(name + ": spec.env." + e.getKey() + " is not a string");
            }
            env.put(e.getKey(), e.getValue().asText());
        }
        BundleSpec spec = new BundleSpec(text(o, "entrypoint", name), strings(s, "argv", name), env,
                strings(s, "passthroughEnv", name), files, strings(s, "allowedFiles", name),
                text(s, "enclaveSize", name), integer(s, "maxThreads", name), integer(s, "isvProdId", name),
                integer(s, "isvSvn", name), text(s, "libos", name),
                s.has("libosSha256") ? Optional.of(text(s, "libosSha256", name)) : Optional.empty(),
                text(s, "inputsPath", name), text(s, "outputsPath", name), bool(s, "keyBroker", name),
                text(s, "gramineRuntime", name));
        Optional<GramineInfo> gramine = Optional.empty();
        if (o.has("gramine")) {
            JsonNode g = o.get("gramine");
            String mr = text(g, "mrenclave", name);
            if (!mr.matches("[0-9a-f]{64}")) {
                throw BundleException.badInput(name + ": gramine.mrenclave is not 64 hex digits");
            }
            if (!text(g, "manifestSgx", name).equals(Bundle.MANIFEST_SGX)) {
                throw BundleException.badInput(name + ": gramine.manifestSgx is not " + Bundle.MANIFEST_SGX);
            }
            JsonNode hh = field(g, "hostHashes", name);
            if (!hh.isObject()) {
                throw BundleException.badInput(name + ": gramine.hostHashes is not an object");
            }
            SortedMap<String, String> hashes = new TreeMap<>();
            for (var it = hh.fields(); it.hasNext();) {
                var e = it.next();
                if (!e.getValue().isTextual() || !e.getValue().asText().matches("[0-9a-f]{64}")) {
                    throw BundleException.badInput(name + ": gramine.hostHashes." + e.getKey()
                            + " is not 64 hex digits");
                }
                hashes.put(e.getKey(), e.getValue().asText());
            }
            gramine = Optional.of(new GramineInfo(mr, hashes));
        }
        return new Doc(text(o, "name", name), text(o, "version", name), text(o, "measurement", name), spec,
                gramine);
    }

    private static void strings(ArrayNode a, List<String> values) {
        values.forEach(a::add);
    }

    private static JsonNode field(JsonNode o, String f, String name) throws BundleException {
        JsonNode v = o.get(f);
        if (v == null || v.isNull()) {
            throw BundleException.badInput(name + ": field " + f + " is missing");
        }
        return v;
    }

    private static String text(JsonNode o, String f, String name) throws BundleException {
        JsonNode v = field(o, f, name);
        if (!v.isTextual()) {
            throw BundleException.badInput(name + ": field " + f + " is not a string");
        }
        return v.asText();
    }

    private static int integer(JsonNode o, String f, String name) throws BundleException {
        JsonNode v = field(o, f, name);
        if (!v.isInt()) {
            throw BundleException.badInput(name + ": field " + f + " is not an integer");
        }
        return v.asInt();
    }

    private static boolean bool(JsonNode o, String f, String name) throws BundleException {
        JsonNode v = field(o, f, name);
        if (!v.isBoolean()) {
            throw BundleException.badInput(name + ": field " + f + " is not a boolean");
        }
        return v.asBoolean();
    }

    private static List<String> strings(JsonNode o, String f, String name) throws BundleException {
        JsonNode v = field(o, f, name);
        if (!v.isArray()) {
            throw BundleException.badInput(name + ": field " + f + " is not an array");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode x : v) {
            if (!x.isTextual()) {
                throw BundleException.badInput(name + ": field " + f + " holds a non-string");
            }
            out.add(x.asText());
        }
        return out;
    }
}
