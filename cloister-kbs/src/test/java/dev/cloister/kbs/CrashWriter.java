package dev.cloister.kbs;

import java.time.Clock;
import java.util.Base64;

/**
 * Child process for the crash test: writes secrets as fast as it can and prints {@code ACK n} after each commit
 * returns, until it is killed.
 */
public final class CrashWriter {
    private CrashWriter() {}

    public static void main(String[] args) throws Exception {
        MasterKey key = MasterKey.of(Base64.getDecoder().decode(args[1]));
        try (KbsStore s = KbsStore.open(args[0], key, Clock.systemUTC())) {
            s.createNamespace("crash", "crash");
            System.out.println("READY");
            System.out.flush();
            for (int i = 0; ; i++) {
                s.storeSecret("crash", "crash", "s" + i, SecretKind.AES256, null, false);
                System.out.println("ACK " + i);
                System.out.flush();
            }
        }
    }
}
