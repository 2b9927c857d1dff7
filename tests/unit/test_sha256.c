/* SHA-256 against the FIPS 180-2 test vectors (one block, two blocks, a million 'a'
 * fed in uneven pieces), the file digest against the same vector, and the number
 * formatter's shortest exact forms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "format.h"
#include "sha256.h"

static void digest_of(const void *data, size_t n, size_t piece, char hex[QZ_SHA256_HEX])
{
    struct qz_sha256 s;
    unsigned char d[QZ_SHA256_BYTES];
    const unsigned char *p = data;

    qz_sha256_init(&s);
    for (size_t at = 0; at < n; at += piece)
        qz_sha256_update(&s, p + at, n - at < piece ? n - at : piece);
    qz_sha256_final(&s, d);
    qz_sha256_hex(d, hex);
}

static void test_vectors(void)
{
    static const char two[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    char hex[QZ_SHA256_HEX];
    char *million = malloc(1000000);

    digest_of("abc", 3, 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "%s",
          hex);
    digest_of(two, strlen(two), 1, hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "%s",
          hex);
    digest_of("", 0, 1, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "%s",
          hex);
    CHECK(million != NULL, "out of memory");
    if (!million)
        return;
    memset(million, 'a', 1000000);
    for (size_t piece = 1; piece <= 1000000; piece = piece * 7 + 3) {
        digest_of(million, 1000000, piece, hex);
        CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
              "pieces of %zu: %s", piece, hex);
    }
    free(million);
}

static void test_file(void)
{
    char path[] = "/tmp/qz_sha256_XXXXXX", hex[QZ_SHA256_HEX];
    struct qz_error err;
    FILE *f = NULL;
    int fd = mkstemp(path);

    CHECK(fd >= 0 && (f = fdopen(fd, "w")) != NULL, "cannot create %s", path);
    if (!f)
        return;
    fputs("abc", f);
    fclose(f);
    CHECK(qz_sha256_file(path, hex, &err) == QZ_OK &&
              !strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
          "%s", hex);
    remove(path);
    CHECK(qz_sha256_file(path, hex, &err) == QZ_EIO && hex[0] == '\0' &&
              strstr(err.msg, path) != NULL,
          "a missing file: %s", err.msg);
}

static void test_format(void)
{
    char buf[QZ_FORMAT_MAX];

    qz_format_exact(buf, sizeof buf, 0.1);
    CHECK(!strcmp(buf, "0.1"), "%s", buf);
    qz_format_exact(buf, sizeof buf, 1000);
    CHECK(!strcmp(buf, "1000"), "%s", buf);
    qz_format_exact(buf, sizeof buf, 0.01234567);
    CHECK(!strcmp(buf, "0.01234567"), "%s", buf);
    qz_format_exact(buf, sizeof buf, 1.0 / 3);
    CHECK(strtod(buf, NULL) == 1.0 / 3 && strlen(buf) == 18, "%s", buf);
    qz_format_duration(buf, sizeof buf, 187.2);
    CHECK(!strcmp(buf, "3 min 7.2 s"), "%s", buf);
    qz_format_mib(buf, sizeof buf, 3u << 20);
    CHECK(!strcmp(buf, "3.0 MiB"), "%s", buf);
}

int main(void)
{
    test_vectors();
    test_file();
    test_format();
    return check_done("test_sha256");
}
