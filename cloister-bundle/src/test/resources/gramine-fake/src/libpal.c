/*
 * A stand-in for Gramine's SGX PAL (sgx/libpal.so), written for Cloister's tests. It does nothing useful; it
 * only has the ELF shape gramine-sgx-sign measures: an entry point (e_entry, which becomes every TCS's OENTRY),
 * a read-only segment, a code segment, a writable data segment that starts mid-page in the file and a .bss
 * that runs several pages past the end of the file data (memsz > filesz).
 */
static const char banner[] = "cloister fake libpal: not Gramine";
static unsigned long counter = 0x0123456789abcdefUL;
static unsigned char scratch[3 * 4096 + 100];

unsigned long pal_work(unsigned long x) {
    scratch[x % sizeof(scratch)] ^= (unsigned char)x;
    counter = counter * 6364136223846793005UL + x;
    return counter ^ (unsigned long)banner[x % (sizeof(banner) - 1)];
}

void pal_entry(void) {
    for (;;) {
        pal_work(counter);
    }
}
