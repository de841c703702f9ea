/* Whether a program needs libheaptop-cxx.so: see cxxshim.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/path.h"
#include "common/xalloc.h"
#include "viewer/cxxshim.h"

#define LIST_MAX (1 << 20) /* a loader's list longer than this is cut */

/* Open PATH for libelf: NULL when it is not an ELF file. */
static Elf *elf_open(const char *path, int *fd)
{
	/* Not blocking: the program may be a FIFO, which exec will refuse. */
	*fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (*fd < 0)
		return NULL;
	struct stat st;
	if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(*fd);
		return NULL;
	}
	elf_version(EV_CURRENT);
	Elf *e = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
	if (e && elf_kind(e) == ELF_K_ELF)
		return e;
	elf_end(e);
	close(*fd);
	return NULL;
}

/* Whether the ELF object at PATH exports a definition of operator
 * new(size_t), the one every `new T` calls. */
static int defines_operator_new(const char *path)
{
	int fd, found = 0;
	Elf *e = elf_open(path, &fd);
	if (!e)
		return 0;
	Elf_Scn *scn = NULL;
	while (!found && (scn = elf_nextscn(e, scn)) != NULL) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !sh.sh_entsize)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		size_t n = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; d && i < n && !found; i++) {
			GElf_Sym s;
			if (!gelf_getsym(d, (int)i, &s))
				break;
			int bind = GELF_ST_BIND(s.st_info);
			if (s.st_shndx == SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK))
				continue;
			const char *name = elf_strptr(e, sh.sh_link, s.st_name);
			found = name && strcmp(name, "_Znwm") == 0;
		}
	}
	elf_end(e);
	close(fd);
	return found;
}

/* The program interpreter (dynamic loader) PATH asks for: NULL for a
 * static executable or what is not ELF. */
static char *interpreter(const char *path)
{
	int fd;
	Elf *e = elf_open(path, &fd);
	if (!e)
		return NULL;
	char *interp = NULL;
	size_t n = 0, size = 0;
	const char *raw = elf_rawfile(e, &size);
	if (raw && elf_getphdrnum(e, &n) == 0) {
		for (size_t i = 0; i < n && !interp; i++) {
			GElf_Phdr ph;
			if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_INTERP)
				continue;
			if (ph.p_offset < size && ph.p_filesz <= size - ph.p_offset &&
			    ph.p_filesz > 1 && memchr(raw + ph.p_offset, '\0', ph.p_filesz))
				interp = xstrdup(raw + ph.p_offset);
		}
	}
	elf_end(e);
	close(fd);
	return interp;
}

/* What `INTERP --list PROGRAM` prints with LD_PRELOAD=PRELOAD: NULL when
 * it fails.  The loader maps the objects and runs none of their code. */
static char *loader_list(const char *interp, const char *program, const char *preload)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return NULL;
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return NULL;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 2) < 0 || dup2(pfd[1], 1) < 0)
			_exit(127);
		setenv("LD_PRELOAD", preload, 1);
		execl(interp, interp, "--list", program, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	size_t len = 0;
	char *out = xmalloc(LIST_MAX + 1);
	for (;;) {
		ssize_t r = read(pfd[0], out + len, LIST_MAX - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == LIST_MAX)
			break;
	}
	out[len] = '\0';
	close(pfd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

char *cxxshim_operator_new_owner(const char *program, const char *preload)
{
	/* The program comes first in its global scope. */
	if (defines_operator_new(program))
		return xstrdup(program);
	char *interp = interpreter(program);
	if (!interp)
		return NULL;
	char *list = loader_list(interp, program, preload);
	free(interp);
	if (!list)
		return NULL;
	/* Lines "\tNAME => PATH (0xADDR)" or "\tPATH (0xADDR)", in the
	 * order of the scope: preloaded objects, then the needed ones. */
	char *owner = NULL;
	for (char *line = strtok(list, "\n"); line && !owner; line = strtok(NULL, "\n")) {
		char *path = strstr(line, " => ");
		path = path ? path + 4 : line + strspn(line, " \t");
		char *end = strstr(path, " (0x");
		if (!end || *path != '/')
			continue; /* the vDSO, or "not found" */
		*end = '\0';
		if (defines_operator_new(path))
			owner = xstrdup(path);
	}
	free(list);
	return owner;
}

int cxxshim_needed(const char *owner, const char *program)
{
	if (!owner || (program && strcmp(owner, program) == 0))
		return 0;
	const char *base = path_base(owner);
	/* The C++ runtimes, whose operator new calls malloc. */
	return strncmp(base, "libstdc++.so", 12) != 0 && strncmp(base, "libc++.so", 9) != 0 &&
	       strncmp(base, "libc++abi.so", 12) != 0;
}

char *cxxshim_preloaded_owner(const char *preload)
{
	char *list = xstrdup(preload ? preload : ""), *save = NULL, *owner = NULL;
	for (char *p = strtok_r(list, ": \t", &save); p && !owner; p = strtok_r(NULL, ": \t", &save))
		if (defines_operator_new(p))
			owner = xstrdup(p);
	free(list);
	return owner;
}

char *cxxshim_find_program(const char *argv0)
{
	if (strchr(argv0, '/'))
		return xstrdup(argv0);
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/bin:/usr/bin";
	for (const char *p = path;; p++) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		/* An empty entry is the current directory, as for execvp. */
		char *cand = xasprintf("%.*s/%s", n ? (int)n : 1, n ? p : ".", argv0);
		struct stat st;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
			return cand;
		free(cand);
		if (!colon)
			return NULL;
		p = colon;
	}
}
