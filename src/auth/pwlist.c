/*
 * pwlist - data/common-passwords.txt embedded with .incbin; see pwlist.h.
 */
#include "auth/pwlist.h"

#include <string.h>

__asm__(".section .rodata\n"
        ".global pwlist_embedded\n"
        ".type pwlist_embedded, @object\n"
        "pwlist_embedded:\n"
        ".incbin \"data/common-passwords.txt\"\n"
        ".byte 0\n"
        ".previous\n");

extern const char pwlist_embedded[];

const char *pwlist_text(void)
{
	return pwlist_embedded;
}

size_t pwlist_len(void)
{
	return strlen(pwlist_embedded);
}
