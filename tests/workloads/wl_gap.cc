/*
 * wl_gap: a C++ program built at -O2 with threads, whose unit's ranges
 * (.text, .text.startup, the cold parts) leave a gap where crt1.o's
 * _start lies.  libdw hands the unit for an address in that gap, and its
 * line table answers with a row of the unit's own: the symbolizer must
 * give _start no source line.
 *
 *   wl_gap N     fills a map from a thread, N x 100 entries; exits 0
 */
#include <cstdlib>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

static std::unordered_map<std::string, std::vector<int>> *table;

static void worker(int n)
{
	for (int i = 0; i < n; i++)
		(*table)[std::to_string(i)].push_back(i);
}

int main(int argc, char **argv)
{
	table = new std::unordered_map<std::string, std::vector<int>>;
	std::thread t(worker, 100 * (argc > 1 ? std::atoi(argv[1]) : 1));
	t.join();
	return 0;
}
