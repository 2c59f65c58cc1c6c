package dev.cloister.kbs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.core.AtomicFiles;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Types;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * Encrypted backup and restore of a whole broker database. The backup holds the rows as stored (secret values
 * stay wrapped under the master key, tokens stay hashed, the audit chain keeps its MACs), compressed and then
 * encrypted and authenticated under a separate backup key. Restoring needs both keys and an empty database.
 */
public final class Backup {
    private static final byte[] MAGIC = "CLOISTER-KBS-BACKUP-1\n".getBytes(StandardCharsets.US_ASCII);
    private static final List<String> TABLES = List.of("kbs_meta", "namespaces", "tokens", "secrets", "policies",
            "audit", "namespace_rules", "policy_proposals", "policy_approvals");
    private static final ObjectMapper JSON = new ObjectMapper();

    private Backup() {}

    /** Writes an encrypted backup of {@code store} to {@code out} (atomically). */
    public static int export(KbsStore store, KeyEncryptionKey backupKey, Path out, boolean overwrite)
            throws KbsException, IOException {
        ObjectNode doc = JSON.createObjectNode();
        int[] rows = {0};
        store.tx(true, c -> {
            for (String t : TABLES) {
                ArrayNode a = doc.putArray(t);
                try (PreparedStatement ps = c.prepareStatement("SELECT * FROM " + t); ResultSet rs = ps.executeQuery()) {
                    ResultSetMetaData md = rs.getMetaData();
                    while (rs.next()) {
                        ObjectNode row = a.addObject();
                        for (int i = 1; i <= md.getColumnCount(); i++) {
                            String col = md.getColumnName(i).toLowerCase(java.util.Locale.ROOT);
                            Object v = rs.getObject(i);
                            if (v == null) {
                                row.putNull(col);
                            } else if (v instanceof byte[] b) {
                                row.put(col, "b64:" + Base64.getEncoder().encodeToString(b));
                            } else if (v instanceof Number n) {
                                row.put(col, n.longValue());
                            } else {
                                row.put(col, "s:" + v);
                            }
                        }
                        rows[0]++;
                    }
                }
            }
            return null;
        });
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
            gz.write(JSON.writeValueAsBytes(doc));
        }
        byte[] sealed = backupKey.wrap(bos.toByteArray(), MAGIC);
        AtomicFiles.writeStream(out, overwrite, os -> {
            os.write(MAGIC);
            os.write(sealed);
        });
        return rows[0];
    }

    /**
     * Restores a backup into the empty database {@code db}, which must be opened with the master key the backup
     * was made under.
     *
     * @return the number of rows restored
     */
    public static int restore(String db, KeyEncryptionKey master, KeyEncryptionKey backupKey, Path in,
            java.time.Clock clock) throws KbsException, IOException {
        return restore(db, null, master, backupKey, in, clock);
    }

    /** Like {@link #restore(String, KeyEncryptionKey, KeyEncryptionKey, Path, java.time.Clock)}, with a password. */
    public static int restore(String db, String password, KeyEncryptionKey master, KeyEncryptionKey backupKey,
            Path in, java.time.Clock clock) throws KbsException, IOException {
        byte[] file = Files.readAllBytes(in);
        if (file.length < MAGIC.length || !Arrays.equals(Arrays.copyOf(file, MAGIC.length), MAGIC)) {
            throw KbsException.badRequest(in + " is not a Cloister key broker backup");
        }
        byte[] gz = backupKey.unwrap(Arrays.copyOfRange(file, MAGIC.length, file.length), MAGIC);
        JsonNode doc;
        try (GZIPInputStream g = new GZIPInputStream(new ByteArrayInputStream(gz))) {
            doc = JSON.readTree(g.readNBytes(256 << 20));
        }
        for (JsonNode m : doc.path("kbs_meta")) {
            if (text(m.get("k")).equals("kek_id") && !new String(bytes(m.get("v")), StandardCharsets.UTF_8)
                    .equals(master.id())) {
                throw KbsException.denied("backup " + in + " was made under master key "
                        + new String(bytes(m.get("v")), StandardCharsets.UTF_8) + ", not " + master.id());
            }
        }
        try (KbsStore store = KbsStore.open(db, password, master, clock, null)) {
            return store.tx(true, c -> {
                if (count(c, "namespaces") + count(c, "secrets") + count(c, "audit") + count(c, "tokens") > 0) {
                    throw KbsException.conflict("database " + store.describe() + " is not empty; restore needs an "
                            + "empty one");
                }
                try (PreparedStatement ps = c.prepareStatement("DELETE FROM kbs_meta")) {
                    ps.executeUpdate();
                }
                int n = 0;
                for (String t : TABLES) {
                    for (JsonNode row : doc.path(t)) {
                        List<String> cols = iterable(row.fieldNames());
                        String sql = "INSERT INTO " + t + " (" + String.join(", ", cols) + ") VALUES ("
                                + String.join(", ", cols.stream().map(x -> "?").toList()) + ")";
                        try (PreparedStatement ps = c.prepareStatement(sql)) {
                            for (int i = 0; i < cols.size(); i++) {
                                JsonNode v = row.get(cols.get(i));
                                if (v.isNull()) {
                                    ps.setNull(i + 1, Types.NULL);
                                } else if (v.isNumber()) {
                                    ps.setLong(i + 1, v.asLong());
                                } else if (v.asText().startsWith("b64:")) {
                                    ps.setBytes(i + 1, bytes(v));
                                } else {
                                    ps.setString(i + 1, text(v));
                                }
                            }
                            ps.executeUpdate();
                            n++;
                        }
                    }
                }
                // A backup made before row MACs: its rows are authentic (the backup key sealed them), so MAC them.
                store.authenticateLegacy(c);
                return n;
            });
        } catch (KbsException e) {
            throw e;
        }
    }

    private static List<String> iterable(java.util.Iterator<String> it) {
        java.util.ArrayList<String> l = new java.util.ArrayList<>();
        it.forEachRemaining(f -> {
            if (!f.matches("[a-z_]+")) {
                throw new IllegalArgumentException("bad column name in backup: " + f);
            }
            l.add(f);
        });
        return l;
    }

    private static long count(Connection c, String t) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM " + t); ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static String text(JsonNode v) {
        String s = v.asText();
        return s.startsWith("s:") ? s.substring(2) : s;
    }

    private static byte[] bytes(JsonNode v) {
        return Base64.getDecoder().decode(v.asText().substring(4));
    }
}
