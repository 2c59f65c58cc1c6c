package dev.cloister.kbs.tlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Base64;
import org.junit.jupiter.api.Test;

/**
 * Signed notes and checkpoints. The PeterNeumann key, text and signature are the example of Go's
 * golang.org/x/mod/sumdb/note package (BSD-3-Clause): signing the same text with the same seed must give the same
 * bytes (Ed25519 is deterministic), which shows the format is byte-compatible with Go's reader and writer.
 */
class NoteTest {
    static final String GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    static final String GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    static final String GO_TEXT = "If you think cryptography is the answer to your problem,\n"
            + "then you don't know what your problem is.\n";
    static final String GO_NOTE = GO_TEXT
            + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    private static NoteSigner goSigner() throws ProofException {
        byte[] typed = Base64.getDecoder().decode(GO_SIGNER.split("\\+", 5)[4]);
        return NoteSigner.fromSeed("PeterNeumann", java.util.Arrays.copyOfRange(typed, 1, 33));
    }

    @Test
    void signsAndVerifiesGosExampleByteForByte() throws Exception {
        NoteSigner s = goSigner();
        assertThat(s.verifierKey()).isEqualTo(GO_VERIFIER);
        assertThat(s.sign(GO_TEXT)).isEqualTo(GO_NOTE);
        assertThat(NoteVerifier.parse(GO_VERIFIER).open(GO_NOTE)).isEqualTo(GO_TEXT);
        assertThat(s.toString()).doesNotContain("AYEKF");
    }

    @Test
    void anAlteredNoteOrAnotherKeyIsRefused() throws Exception {
        NoteVerifier v = NoteVerifier.parse(GO_VERIFIER);
        assertThatThrownBy(() -> v.open(GO_NOTE.replace("cryptography", "cryptographY")))
                .isInstanceOf(ProofException.class).hasMessageContaining("does not verify");
        NoteVerifier other = NoteVerifier.parse(NoteSigner.generate("PeterNeumann").verifierKey());
        assertThatThrownBy(() -> other.open(GO_NOTE)).isInstanceOf(ProofException.class)
                .hasMessageContaining("not signed by PeterNeumann");
        // A second signer's line is ignored; ours still decides.
        String cosigned = GO_NOTE + NoteSigner.generate("Witness").sign(GO_TEXT).substring(GO_TEXT.length() + 1);
        assertThat(v.open(cosigned)).isEqualTo(GO_TEXT);
    }

    @Test
    void malformedKeysAndNotesGetErrorsThatNameTheProblem() {
        assertThatThrownBy(() -> NoteVerifier.parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"))
                .isInstanceOf(ProofException.class).hasMessageContaining("does not match");
        assertThatThrownBy(() -> NoteVerifier.parse("PeterNeumann+c74f20a3")).isInstanceOf(ProofException.class)
                .hasMessageContaining("three parts");
        assertThatThrownBy(() -> NoteVerifier.parse("Peter Neumann+c74f20a3+AQ==")).isInstanceOf(ProofException.class)
                .hasMessageContaining("no spaces");
        assertThatThrownBy(() -> NoteVerifier.parse("P+c74f20a3+AQ==")).isInstanceOf(ProofException.class)
                .hasMessageContaining("Ed25519");
        assertThatThrownBy(() -> NoteVerifier.parse(GO_VERIFIER).open(GO_TEXT)).isInstanceOf(ProofException.class)
                .hasMessageContaining("blank line");
        // Found by TlogFuzzTest: a blank line at the very end used to index past the note.
        assertThatThrownBy(() -> NoteVerifier.parse(GO_VERIFIER).open(GO_TEXT + "\n"))
                .isInstanceOf(ProofException.class).hasMessageContaining("no signature lines");
        assertThatThrownBy(() -> NoteVerifier.parse(GO_VERIFIER).open(GO_NOTE.replace("\u2014", "--")))
                .isInstanceOf(ProofException.class).hasMessageContaining("em dash");
        assertThatThrownBy(() -> NoteVerifier.parse(GO_VERIFIER).open(GO_NOTE.replace("x08go", "x08g!")))
                .isInstanceOf(ProofException.class).hasMessageContaining("base64");
    }

    @Test
    void checkpointsRoundTripAndMustBeSignedByTheirOrigin() throws Exception {
        byte[] root = new byte[32];
        root[0] = 7;
        Checkpoint c = new Checkpoint("example.org/log", 42, root);
        assertThat(c.toText()).isEqualTo("example.org/log\n42\nBwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
        assertThat(Checkpoint.parse(c.toText())).isEqualTo(c);
        assertThat(Checkpoint.parse(c.toText() + "extension line\n")).isEqualTo(c);
        NoteSigner s = NoteSigner.generate("example.org/log");
        NoteVerifier v = NoteVerifier.parse(s.verifierKey());
        assertThat(Checkpoint.open(s.sign(c.toText()), v)).isEqualTo(c);
        NoteSigner wrong = NoteSigner.generate("other.org/log");
        assertThatThrownBy(() -> Checkpoint.open(wrong.sign(c.toText()), NoteVerifier.parse(wrong.verifierKey())))
                .isInstanceOf(ProofException.class).hasMessageContaining("signed with the key of other.org/log");
        for (String bad : new String[] {"o\n01\nAA==\n", "o\n-1\n" + "A".repeat(43) + "=\n", "o\n1\nAAAA\n",
            "o\n1\n", "\n1\nBwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "o\n99999999999999999999\nAA==\n"}) {
            assertThatThrownBy(() -> Checkpoint.parse(bad)).as(bad).isInstanceOf(ProofException.class);
        }
    }
}
