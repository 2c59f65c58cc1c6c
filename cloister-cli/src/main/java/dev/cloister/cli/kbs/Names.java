package dev.cloister.cli.kbs;

import dev.cloister.kbs.KbsException;

/** Splits {@code NAMESPACE/NAME} arguments. */
record Names(String namespace, String name) {
    static Names parse(String s) throws KbsException {
        int i = s.indexOf('/');
        if (i <= 0 || i == s.length() - 1 || s.indexOf('/', i + 1) >= 0) {
            throw KbsException.badRequest("expected NAMESPACE/NAME, got '" + s + "'");
        }
        return new Names(s.substring(0, i), s.substring(i + 1));
    }
}
