package dev.cloister.bundle;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The canonical TOML writer: exact bytes, and round trip through an independent parser. */
class TomlTest {
    @Test
    void canonicalBytes() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("z.b", 1);
        m.put("a", List.of());
        m.put("z.a", List.of(Map.of("uri", "file:x", "sha256", "00"), "file:y"));
        m.put("s", "q\"\\\n\t\u0001é");
        m.put("env.\"odd key\"", true);
        String out = new String(Toml.render(m), StandardCharsets.UTF_8);
        assertThat(out).isEqualTo("""
                a = []
                env."\\"odd key\\"" = true
                s = "q\\"\\\\\\n\\t\\u0001é"
                z.a = [
                  { sha256 = "00", uri = "file:x" },
                  "file:y",
                ]
                z.b = 1
                """);
    }

    @Test
    void independentParserReadsWhatWeWrite() throws Exception {
        Map<String, Object> m = new LinkedHashMap<>();
        String tricky = "quote \" backslash \\ newline \n tab \t bell \u0007 unicode ü 😀";
        m.put("loader.env.X", tricky);
        m.put("loader.argv", List.of("a", tricky));
        m.put("sgx.max_threads", 8L);
        m.put("fs.mounts", List.of(Map.of("path", "/tmp", "type", "tmpfs")));
        var t = new TomlMapper().readTree(Toml.render(m));
        assertThat(t.at("/loader/env/X").asText()).isEqualTo(tricky);
        assertThat(t.at("/loader/argv/1").asText()).isEqualTo(tricky);
        assertThat(t.at("/sgx/max_threads").asLong()).isEqualTo(8L);
        assertThat(t.at("/fs/mounts/0/type").asText()).isEqualTo("tmpfs");
    }
}
