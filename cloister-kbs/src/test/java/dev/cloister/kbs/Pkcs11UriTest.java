package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The RFC 7512 subset: what is read, and each thing refused with a message naming it. */
class Pkcs11UriTest {
    @Test
    void readsTokenObjectModuleAndPinSource() throws Exception {
        Pkcs11Uri u = Pkcs11Uri.parse("pkcs11:token=kbs%20prod;object=kbs-master;type=secret-key"
                + "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/kbs/pin");
        assertThat(u).isEqualTo(new Pkcs11Uri(Path.of("/usr/lib/softhsm/libsofthsm2.so"), "kbs prod", "kbs-master",
                Path.of("/etc/kbs/pin")));
        assertThat(Pkcs11Uri.parse("pkcs11:object=a+b;token=t")).isEqualTo(new Pkcs11Uri(null, "t", "a+b", null));
        assertThat(Pkcs11Uri.parse("pkcs11:token=t;object=%C3%A9?pin-source=/p").object()).isEqualTo("é");
    }

    @Test
    void refusesWhatItDoesNotUnderstand() {
        String[][] bad = {
            {"pkcs:token=t;object=o", "starts with 'pkcs11:'"},
            {"pkcs11:token=t", "must name the token and the object"},
            {"pkcs11:token=t;object=o;serial=1234", "path attribute 'serial' is not supported"},
            {"pkcs11:token=t;object=o;type=private", "not type=private"},
            {"pkcs11:token=t;object=o?pin-value=1234", "pin-value is refused"},
            {"pkcs11:token=t;object=o?module-name=softhsm2", "query attribute 'module-name' is not supported"},
            {"pkcs11:token=t;token=u;object=o", "'token' given twice"},
            {"pkcs11:token=;object=o", "'token' is empty"},
            {"pkcs11:token=t%2;object=o", "bad percent-encoding"},
            {"pkcs11:token=t%FF;object=o", "not UTF-8"},
            {"pkcs11:token=a b;object=o", "must be percent-encoded"},
            {"pkcs11:token;object=o", "malformed path attribute"},
        };
        for (String[] b : bad) {
            assertThatThrownBy(() -> Pkcs11Uri.parse(b[0])).as(b[0]).isInstanceOf(KbsException.class)
                    .hasMessageContaining(b[1]);
        }
    }
}
