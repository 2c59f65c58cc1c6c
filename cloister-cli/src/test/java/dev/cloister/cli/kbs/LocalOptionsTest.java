package dev.cloister.cli.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.core.CloisterException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The local database options: the password kept off the command line, and where the log anchor goes. */
class LocalOptionsTest {
    @TempDir
    Path dir;

    @Test
    void theDatabasePasswordComesFromAFileNotTheUrl() throws Exception {
        LocalOptions o = new LocalOptions();
        o.db = "jdbc:postgresql://db.example:5432/kbs?user=kbs";
        o.dbPasswordFile = Files.writeString(dir.resolve("pw"), "s3cret\n");
        assertThat(o.password()).isEqualTo("s3cret");
        o.dbPasswordFile = Files.writeString(dir.resolve("empty"), "\n");
        assertThatThrownBy(o::password).isInstanceOf(CloisterException.class)
                .hasMessageContaining("must hold one non-empty line");
        o.dbPasswordFile = Files.writeString(dir.resolve("two"), "a\nb\n");
        assertThatThrownBy(o::password).isInstanceOf(CloisterException.class);
        o.dbPasswordFile = dir.resolve("missing");
        assertThatThrownBy(o::password).isInstanceOf(CloisterException.class)
                .satisfies(e -> assertThat(((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.BAD_INPUT));
    }

    @Test
    void theLogAnchorSitsNextToAnSqliteDatabaseAndIsNamedByTheUrlForPostgresql() {
        LocalOptions o = new LocalOptions();
        o.db = dir.resolve("kbs.db").toString();
        assertThat(o.anchorFile()).isEqualTo(dir.resolve("kbs.db.anchor"));
        o.db = "jdbc:postgresql://h/kbs?user=a&password=x";
        Path withPassword = o.anchorFile();
        o.db = "jdbc:postgresql://h/kbs?user=a&password=y";
        assertThat(o.anchorFile()).isEqualTo(withPassword);
        assertThat(withPassword.getParent()).isEqualTo(LocalOptions.home());
        o.db = "jdbc:postgresql://h/other?user=a";
        assertThat(o.anchorFile()).isNotEqualTo(withPassword);
    }
}
