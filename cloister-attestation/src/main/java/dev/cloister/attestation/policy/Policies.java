package dev.cloister.attestation.policy;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.cloister.attestation.Policy;
import dev.cloister.attestation.TcbStatus;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads attestation policies. Two spellings of the same constraints are accepted:
 *
 * <ul>
 *   <li>the compact constraint string, space-separated {@code KEY:VALUE} tokens, e.g.
 *       {@code E:<mrenclave> S:<mrsigner> PROD:1 SVN:3 TCB:UpToDate,SWHardeningNeeded ADV:INTEL-SA-00334 AGE:30d};
 *   <li>YAML with one key per constraint, e.g. {@code mrsigner: "<hex>"}, {@code min-isv-svn: 3},
 *       {@code allow-simulated: true}.
 * </ul>
 *
 * Both give a {@link ConstraintPolicy}; its {@link Policy#toText()} is the canonical compact form, which parses
 * back to an equal policy. Anything not understood is an error naming the token or key: a policy that silently
 * ignored a misspelt constraint would accept more than its author meant.
 */
public final class Policies {
    private static final HexFormat HEX = HexFormat.of();
    private static final Pattern YAML_KEY = Pattern.compile("^[A-Za-z0-9_-]+:\\s.*", Pattern.DOTALL);
    private static final Pattern ADVISORY = Pattern.compile("[A-Za-z0-9._-]+|\\*");
    private static final Pattern SHORT_DURATION = Pattern.compile("([0-9]{1,9})([dhms])");
    private static final Set<String> LIST_KEYS = Set.of("E", "TCB", "ADV", "MRTD", "MEASUREMENT");

    /** YAML key to compact key. */
    private static final Map<String, String> YAML_KEYS = new LinkedHashMap<>();

    static {
        YAML_KEYS.put("mrenclave", "E");
        YAML_KEYS.put("mrsigner", "S");
        YAML_KEYS.put("isv-prod-id", "PROD");
        YAML_KEYS.put("min-isv-svn", "SVN");
        YAML_KEYS.put("tcb-statuses", "TCB");
        YAML_KEYS.put("accepted-advisories", "ADV");
        YAML_KEYS.put("allow-debug", "DEBUG");
        YAML_KEYS.put("allow-simulated", "SIM");
        YAML_KEYS.put("max-collateral-age", "AGE");
        YAML_KEYS.put("allow-expired-collateral", "EXPIRED");
        YAML_KEYS.put("report-data", "RD");
        YAML_KEYS.put("mrtd", "MRTD");
        YAML_KEYS.put("rtmr0", "RTMR0");
        YAML_KEYS.put("rtmr1", "RTMR1");
        YAML_KEYS.put("rtmr2", "RTMR2");
        YAML_KEYS.put("rtmr3", "RTMR3");
        YAML_KEYS.put("mr-config-id", "MRCONFIGID");
        YAML_KEYS.put("td-attributes", "TDATTR");
        YAML_KEYS.put("allow-sept-ve", "SEPTVE");
        YAML_KEYS.put("mr-service-td", "MRSERVICETD");
        YAML_KEYS.put("snp-measurement", "MEASUREMENT");
        YAML_KEYS.put("snp-policy", "SNPPOLICY");
        YAML_KEYS.put("snp-min-tcb", "MINTCB");
        YAML_KEYS.put("snp-max-vmpl", "VMPL");
        YAML_KEYS.put("snp-host-data", "HOSTDATA");
        YAML_KEYS.put("job-record", "JOB");
    }

    private Policies() {}

    /**
     * The policy used when an owner gives none: TCB status UpToDate only, no advisories, no debug, no simulated
     * evidence, collateral not expired; for TDX also SEPT_VE_DISABLE set and no service TD. Any measurement is
     * accepted, so real deployments add their MRENCLAVE/MRSIGNER/MRTD/MEASUREMENT constraints.
     */
    public static ConstraintPolicy defaultPolicy() {
        return new Spec().build();
    }

    /**
     * Parses a compact constraint string or a YAML policy (a mapping; see the class comment). An empty text is the
     * default policy.
     *
     * @throws PolicyException naming the token or key that is unknown, repeated or has a bad value
     */
    public static ConstraintPolicy parse(String text) throws PolicyException {
        if (text == null) {
            throw new PolicyException("policy text is missing");
        }
        String t = text.strip();
        if (t.isEmpty()) {
            return defaultPolicy();
        }
        boolean yaml = t.indexOf('\n') >= 0 || t.startsWith("{") || t.startsWith("---") || t.startsWith("#")
                || YAML_KEY.matcher(t).matches();
        if (!yaml) {
            return parseCompact(t);
        }
        JsonNode root;
        try {
            YAMLMapper mapper = YAMLMapper.builder().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).build();
            root = mapper.readTree(t);
        } catch (JsonProcessingException e) {
            String msg = e.getOriginalMessage();
            throw new PolicyException("policy YAML is malformed: " + (msg == null ? e.getClass().getSimpleName()
                    : msg.lines().findFirst().orElse(msg)));
        }
        if (root != null && root.isTextual()) {
            // A compact policy written over several lines reads as one folded YAML scalar.
            return parseCompact(root.asText().strip());
        }
        if (root == null || !root.isObject()) {
            throw new PolicyException("policy YAML must be a mapping of constraint keys, e.g. 'min-isv-svn: 3'");
        }
        Spec spec = new Spec();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            String key = e.getKey();
            String compact = YAML_KEYS.get(key);
            if (compact == null) {
                throw new PolicyException("policy YAML: unknown key '" + key + "' (known: "
                        + String.join(", ", YAML_KEYS.keySet()) + ")");
            }
            spec.apply(compact, yamlValue(key, compact, e.getValue()), "key '" + key + "'");
        }
        return spec.build();
    }

    private static String yamlValue(String key, String compact, JsonNode v) throws PolicyException {
        if (v.isArray()) {
            if (!LIST_KEYS.contains(compact)) {
                throw new PolicyException("policy YAML: key '" + key + "' takes one value, not a list");
            }
            List<String> parts = new ArrayList<>();
            for (JsonNode item : v) {
                parts.add(yamlScalar(key, compact, item));
            }
            if (parts.isEmpty()) {
                throw new PolicyException("policy YAML: key '" + key + "' has an empty list");
            }
            return String.join(",", parts);
        }
        return yamlScalar(key, compact, v);
    }

    private static String yamlScalar(String key, String compact, JsonNode v) throws PolicyException {
        switch (compact) {
            case "DEBUG", "SIM", "EXPIRED", "SEPTVE" -> {
                if (!v.isBoolean()) {
                    throw new PolicyException("policy YAML: key '" + key + "' must be true or false, got " + v);
                }
                return v.booleanValue() ? "ALLOW" : "DENY";
            }
            case "PROD", "SVN", "VMPL" -> {
                if (!v.isIntegralNumber()) {
                    throw new PolicyException("policy YAML: key '" + key + "' must be an integer, got " + v);
                }
                return v.asText();
            }
            case "TDATTR", "SNPPOLICY", "MINTCB" -> {
                // YAML reads 0x30000 as an integer: accept it as the number it is.
                if (v.isIntegralNumber()) {
                    return Long.toHexString(v.longValue());
                }
                if (!v.isTextual()) {
                    throw new PolicyException("policy YAML: key '" + key + "' must be a hex string, got " + v);
                }
                return v.asText();
            }
            default -> {
                if (!v.isTextual()) {
                    throw new PolicyException("policy YAML: key '" + key + "' must be a (quoted) string, got " + v);
                }
                return v.asText();
            }
        }
    }

    private static ConstraintPolicy parseCompact(String t) throws PolicyException {
        Spec spec = new Spec();
        for (String token : t.split("\\s+")) {
            int colon = token.indexOf(':');
            if (colon <= 0) {
                throw new PolicyException("policy token '" + token + "' is not KEY:VALUE");
            }
            String key = token.substring(0, colon).toUpperCase(Locale.ROOT);
            String value = token.substring(colon + 1);
            spec.apply(key, value, "token '" + token + "'");
        }
        return spec.build();
    }

    /** {@code 30d}, {@code 12h}, {@code 5m}, {@code 90s}, or ISO-8601 for anything finer. */
    static String formatDuration(Duration d) {
        if (d.getNano() != 0 || d.isNegative()) {
            return d.toString();
        }
        long s = d.getSeconds();
        if (s != 0 && s % 86_400 == 0) return s / 86_400 + "d";
        if (s != 0 && s % 3_600 == 0) return s / 3_600 + "h";
        if (s != 0 && s % 60 == 0) return s / 60 + "m";
        return s + "s";
    }

    /** Mutable accumulator for one parse; the result is an immutable {@link ConstraintPolicy}. */
    private static final class Spec {
        final Set<String> seen = new java.util.HashSet<>();
        final List<String> mrEnclaves = new ArrayList<>();
        String mrSigner;
        Integer isvProdId;
        Integer minIsvSvn;
        boolean allowDebug;
        List<TcbStatus> tcb;
        final List<String> advisories = new ArrayList<>();
        Duration maxAge;
        boolean allowExpired;
        String reportData;
        boolean allowSimulated;
        final List<String> mrTds = new ArrayList<>();
        final String[] rtmr = new String[4];
        String mrConfigId;
        Long tdAttrValue;
        Long tdAttrMask;
        boolean allowSeptVe;
        String mrServiceTd;
        final List<String> measurements = new ArrayList<>();
        Long snpPolicyValue;
        Long snpPolicyMask;
        Long snpMinTcb;
        Integer snpMaxVmpl;
        String snpHostData;
        String jobRecord;

        void apply(String key, String value, String where) throws PolicyException {
            if (value.isEmpty()) {
                throw new PolicyException("policy " + where + " has no value");
            }
            if (!LIST_KEYS.contains(key) && !seen.add(key)) {
                throw new PolicyException("policy " + where + ": " + key + " is given twice");
            }
            switch (key) {
                case "E" -> { for (String v : list(value, where)) mrEnclaves.add(hex(v, 32, 32, where)); }
                case "S" -> mrSigner = hex(value, 32, 32, where);
                case "PROD" -> isvProdId = integer(value, 0, 0xffff, where);
                case "SVN" -> minIsvSvn = integer(value, 0, 0xffff, where);
                case "DEBUG" -> allowDebug = allow(value, where);
                case "TCB" -> {
                    if (tcb == null) tcb = new ArrayList<>();
                    for (String v : list(value, where)) tcb.add(status(v, where));
                }
                case "ADV" -> {
                    for (String v : list(value, where)) {
                        if (!ADVISORY.matcher(v).matches()) {
                            throw new PolicyException("policy " + where + ": '" + v + "' is not an advisory ID");
                        }
                        advisories.add(v.equals("*") ? v : v.toUpperCase(Locale.ROOT));
                    }
                }
                case "AGE" -> maxAge = duration(value, where);
                case "EXPIRED" -> allowExpired = allow(value, where);
                case "RD" -> reportData = hex(value, 1, 64, where);
                case "SIM" -> allowSimulated = allow(value, where);
                case "MRTD" -> { for (String v : list(value, where)) mrTds.add(hex(v, 48, 48, where)); }
                case "RTMR0", "RTMR1", "RTMR2", "RTMR3" -> rtmr[key.charAt(4) - '0'] = hex(value, 48, 48, where);
                case "MRCONFIGID" -> mrConfigId = hex(value, 48, 48, where);
                case "TDATTR" -> {
                    long[] vm = masked(value, where);
                    tdAttrValue = vm[0];
                    tdAttrMask = vm[1];
                }
                case "SEPTVE" -> allowSeptVe = allow(value, where);
                case "MRSERVICETD" -> mrServiceTd = value.equals("*") ? "*" : hex(value, 48, 48, where);
                case "MEASUREMENT" -> { for (String v : list(value, where)) measurements.add(hex(v, 48, 48, where)); }
                case "SNPPOLICY" -> {
                    long[] vm = masked(value, where);
                    snpPolicyValue = vm[0];
                    snpPolicyMask = vm[1];
                }
                case "MINTCB" -> snpMinTcb = u64(value, where);
                case "VMPL" -> snpMaxVmpl = integer(value, 0, 3, where);
                case "HOSTDATA" -> snpHostData = hex(value, 32, 32, where);
                case "JOB" -> jobRecord = hex(value, 32, 32, where);
                default -> throw new PolicyException("policy " + where + ": unknown constraint " + key
                        + " (known: E S PROD SVN TCB ADV DEBUG SIM AGE EXPIRED RD MRTD RTMR0-3 MRCONFIGID TDATTR"
                        + " SEPTVE MRSERVICETD MEASUREMENT SNPPOLICY MINTCB VMPL HOSTDATA JOB)");
            }
        }

        ConstraintPolicy build() {
            return new ConstraintPolicy(mrEnclaves, mrSigner, isvProdId, minIsvSvn, allowDebug,
                    tcb == null ? List.of(TcbStatus.UP_TO_DATE) : tcb, advisories, maxAge, allowExpired, reportData,
                    allowSimulated, mrTds, rtmr[0], rtmr[1], rtmr[2], rtmr[3], mrConfigId, tdAttrValue, tdAttrMask,
                    allowSeptVe, mrServiceTd, measurements, snpPolicyValue, snpPolicyMask, snpMinTcb, snpMaxVmpl,
                    snpHostData, jobRecord);
        }
    }

    private static List<String> list(String value, String where) throws PolicyException {
        List<String> out = new ArrayList<>();
        for (String v : value.split(",", -1)) {
            if (v.isEmpty()) {
                throw new PolicyException("policy " + where + " has an empty list item");
            }
            out.add(v);
        }
        return out;
    }

    private static String hex(String v, int minBytes, int maxBytes, String where) throws PolicyException {
        byte[] b;
        try {
            b = HEX.parseHex(v.toLowerCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new PolicyException("policy " + where + ": '" + v + "' is not hex");
        }
        if (b.length < minBytes || b.length > maxBytes) {
            String want = minBytes == maxBytes ? minBytes + " bytes" : minBytes + " to " + maxBytes + " bytes";
            throw new PolicyException("policy " + where + ": value must be " + want + " of hex, got " + b.length);
        }
        return HEX.formatHex(b);
    }

    private static int integer(String v, int min, int max, String where) throws PolicyException {
        int n;
        try {
            n = Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new PolicyException("policy " + where + ": '" + v + "' is not a number");
        }
        if (n < min || n > max) {
            throw new PolicyException("policy " + where + ": " + n + " is outside " + min + ".." + max);
        }
        return n;
    }

    private static boolean allow(String v, String where) throws PolicyException {
        return switch (v.toUpperCase(Locale.ROOT)) {
            case "ALLOW" -> true;
            case "DENY" -> false;
            default -> throw new PolicyException("policy " + where + ": value must be ALLOW or DENY");
        };
    }

    private static TcbStatus status(String v, String where) throws PolicyException {
        for (TcbStatus s : TcbStatus.values()) {
            if (s.intelName().equalsIgnoreCase(v)) {
                return s;
            }
        }
        throw new PolicyException("policy " + where + ": unknown TCB status '" + v + "' (known: UpToDate,"
                + " SWHardeningNeeded, ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, OutOfDate,"
                + " OutOfDateConfigurationNeeded, Revoked)");
    }

    private static Duration duration(String v, String where) throws PolicyException {
        Duration d;
        var m = SHORT_DURATION.matcher(v);
        if (m.matches()) {
            long n = Long.parseLong(m.group(1));
            d = switch (m.group(2)) {
                case "d" -> Duration.ofDays(n);
                case "h" -> Duration.ofHours(n);
                case "m" -> Duration.ofMinutes(n);
                default -> Duration.ofSeconds(n);
            };
        } else {
            try {
                d = Duration.parse(v);
            } catch (DateTimeParseException e) {
                throw new PolicyException("policy " + where + ": '" + v + "' is not a duration like 30d, 12h or PT90M");
            }
        }
        if (d.isNegative() || d.isZero()) {
            throw new PolicyException("policy " + where + ": the maximum age must be positive");
        }
        return d;
    }

    private static long u64(String v, String where) throws PolicyException {
        String h = v.startsWith("0x") || v.startsWith("0X") ? v.substring(2) : v;
        if (h.isEmpty() || h.length() > 16 || !h.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
            throw new PolicyException("policy " + where + ": '" + v + "' is not a hex number of at most 64 bits");
        }
        return Long.parseUnsignedLong(h, 16);
    }

    /** {@code value[/mask]}: without a mask every bit is fixed. */
    private static long[] masked(String v, String where) throws PolicyException {
        int slash = v.indexOf('/');
        long value = u64(slash < 0 ? v : v.substring(0, slash), where);
        long mask = slash < 0 ? -1L : u64(v.substring(slash + 1), where);
        if ((value & ~mask) != 0) {
            throw new PolicyException("policy " + where + ": value sets bits outside the mask");
        }
        return new long[] {value, mask};
    }
}
