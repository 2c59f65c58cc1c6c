package dev.cloister.bundle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link GramineToml}'s corner cases against output of the real {@code tomli_w} 1.0.0: the expected string below
 * was printed by {@code python3 -c 'import tomli_w; print(repr(tomli_w.dumps(doc)))'} for the same document.
 */
class GramineTomlTest {
    @SafeVarargs
    static <V> Map<String, V> map(Object... kv) {
        Map<String, V> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            @SuppressWarnings("unchecked")
            V v = (V) kv[i + 1];
            m.put((String) kv[i], v);
        }
        return m;
    }

    @Test
    void matchesTomliW() {
        Map<String, Object> doc = map(
                "a", map(),
                "b", map("c", map("d", 1)),
                "e", List.of(List.of(1, 2), List.of()),
                "f", List.of(map("x", "y".repeat(10)), map("z", true)),
                "g", List.of(map("long", "q".repeat(100))),
                "h", map("k.dot", "v\u007f\u001f\t\b", "", "empty"),
                "i", map("inner", map(), "lit", List.of(map("p", List.of(1)))));
        String want = "e = [\n    [\n        1,\n        2,\n    ],\n    [],\n]\nf = [\n    { x = \"yyyyyyyyyy\" },\n"
                + "    { z = true },\n]\n\n[a]\n\n[b.c]\nd = 1\n\n[[g]]\nlong = \"" + "q".repeat(100) + "\"\n\n[h]\n"
                + "\"k.dot\" = \"v\\u007f\\u001f\t\\b\"\n\"\" = \"empty\"\n\n[i.inner]\n\n[[i.lit]]\np = [\n    1,\n]\n";
        assertThat(new String(GramineToml.dump(doc), StandardCharsets.UTF_8)).isEqualTo(want);
    }

    @Test
    void anInlineTableOfExactlyOneHundredCharactersStaysInline() {
        // "    { k = \"...\" }," is 11 + n + 4 characters: n = 85 gives 100 (inline), 86 gives 101 (table); checked
        // against tomli_w 1.0.0, as is the astral case.
        String at = new String(GramineToml.dump(map("t", List.of(map("k", "x".repeat(85))))),
                StandardCharsets.UTF_8);
        String over = new String(GramineToml.dump(map("t", List.of(map("k", "x".repeat(86))))),
                StandardCharsets.UTF_8);
        assertThat(at).startsWith("t = [\n    { k = ");
        assertThat(over).startsWith("[[t]]\nk = ");
        // Code points, not UTF-16 units: 85 astral characters still fit, 86 do not.
        String astral = new String(GramineToml.dump(map("t", List.of(map("k", "\uD83D\uDE00".repeat(85))))),
                StandardCharsets.UTF_8);
        assertThat(astral).startsWith("t = [\n");
        String astralOver = new String(GramineToml.dump(map("t", List.of(map("k", "\uD83D\uDE00".repeat(86))))),
                StandardCharsets.UTF_8);
        assertThat(astralOver).startsWith("[[t]]\n");
    }

    @Test
    void rejectsValuesTomlCannotHold() {
        assertThatThrownBy(() -> GramineToml.dump(map("n", 1.5))).isInstanceOf(IllegalArgumentException.class);
        List<Object> withNull = new ArrayList<>();
        withNull.add(null);
        assertThatThrownBy(() -> GramineToml.dump(map("n", withNull))).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void palParserRejectsMutatedHeadersWithTypedErrorsOnly() throws Exception {
        byte[] pal = java.nio.file.Files.readAllBytes(GramineSignCompatTest.LIB.resolve("sgx/libpal.so"));
        PalImage good = PalImage.parse(pal, "libpal.so");
        assertThat(good.entry()).isEqualTo(0x10a0);
        assertThat(good.segments()).hasSize(4);
        assertThat(good.segments().get(3).memsz()).isGreaterThan(good.segments().get(3).filesz());
        Random r = new Random(20261127);
        int rejected = 0;
        for (int i = 0; i < 3000; i++) {
            byte[] m = pal.clone();
            int flips = 1 + r.nextInt(4);
            for (int f = 0; f < flips; f++) {
                // Mutate the ELF header and program headers, where the parser looks.
                int at = r.nextInt(64 + 56 * 11);
                m[at] = (byte) r.nextInt(256);
            }
            try {
                PalImage p = PalImage.parse(m, "mutant");
                for (PalImage.Segment s : p.segments()) {
                    assertThat(s.offset() + s.filesz()).isLessThanOrEqualTo(m.length);
                }
            } catch (BundleException e) {
                rejected++;
                assertThat(e.getMessage()).startsWith("mutant");
            }
        }
        assertThat(rejected).isPositive();
    }
}
