/*
 * The web dashboard (dashboard.html, served on GET /) is part of the binary:
 * the assembler copies the file in, so tend needs no asset directory and the
 * page cannot drift from the daemon that serves it.  The Makefile makes this
 * object depend on the HTML file.
 */
__asm__(".section .rodata\n"
	".global dashboard_html\n"
	".type dashboard_html, @object\n"
	"dashboard_html:\n"
	".incbin \"src/daemon/dashboard.html\"\n"
	".global dashboard_html_end\n"
	".type dashboard_html_end, @object\n"
	"dashboard_html_end:\n"
	".byte 0\n"
	".previous\n");
