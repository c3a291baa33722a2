// Preloaded into `migdra serve` by e2e_serve_datadir: OpenSSL's RAND_bytes fails, as it can on a
// machine whose random generator has no entropy. serve must refuse to make a token or a
// certificate serial then, with a clear error, instead of using whatever the buffer held.
extern "C" int RAND_bytes(unsigned char*, int) { return 0; }
