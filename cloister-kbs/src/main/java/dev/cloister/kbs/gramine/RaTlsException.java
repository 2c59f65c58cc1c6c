package dev.cloister.kbs.gramine;

import java.security.cert.CertificateException;

/** An RA-TLS certificate was malformed or its evidence did not check out; the message names the check. */
public final class RaTlsException extends CertificateException {
    private static final long serialVersionUID = 1L;

    public RaTlsException(String message) {
        super(message);
    }

    public RaTlsException(String message, Throwable cause) {
        super(message, cause);
    }
}
