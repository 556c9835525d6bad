"""APPS sample variants with the verdict hendrycks/apps ``eval/testing_util.py`` gives them (run outside the
repository on the same programs: pass = every result is True; ``ref`` = its first result that is not True, or
True). Each case: (name, input_output, solution, ref, evalkit outcome)."""

SUM = {"inputs": ["1 2\n", "-5 5\n", "100 23\n"], "outputs": ["3\n", "0\n", "123\n"]}
LINES = {"inputs": ["3\n"], "outputs": ["1\n1 2\n1 2 3\n"]}
MEAN = {"inputs": ["2\n1 4\n"], "outputs": ["2.5000000\n"]}
ADD = {"fn_name": "add_all", "inputs": [[[1, 2]], [[]]], "outputs": [[3], [0]]}
PAIR = {"fn_name": "divmod_pair", "inputs": [[7, 2]], "outputs": [[3, 1]]}
TWO = {"fn_name": "twoSum", "inputs": [[[2, 7, 11, 15], 9]], "outputs": [[0, 1]]}
KEYS = {"fn_name": "count", "inputs": [["aab"]], "outputs": [{"1": 1, "2": 1}]}

STDIN = [
    ("correct", SUM, "a, b = map(int, input().split())\nprint(a + b)\n", True, "passed"),
    ("wrong", SUM, "a, b = map(int, input().split())\nprint(a - b)\n", False, "failed"),
    ("crash", SUM, "print(1 // 0)\n", -1, "error"),
    ("slow", SUM, "while True:\n    pass\n", -1, "timeout"),
    ("syntax", SUM, "a = (\n", -2, "compile_error"),
    ("trailing spaces", SUM, "a, b = map(int, input().split())\nprint(a + b, '  ')\n", True, "passed"),
    ("blank lines around", SUM, "a, b = map(int, input().split())\nprint()\nprint(a + b)\nprint()\n", True,
     "passed"),
    ("float for int", SUM, "a, b = map(int, input().split())\nprint(float(a + b))\n", True, "passed"),
    ("no newline", SUM, "import sys\na, b = map(int, input().split())\nsys.stdout.write(str(a + b))\n", True,
     "passed"),
    ("tokens on one line", LINES, "n = int(input())\nprint(' '.join('1' * 0) or '1')\nprint('1 2')\n"
     "print('3 2 1')\n", True, "passed"),
    ("lines as one line", LINES, "print('1 1 2 1 2 3')\n", False, "failed"),
    ("indented lines", LINES, "n = int(input())\nfor i in range(1, n + 1):\n    print('  ', *range(1, i + 1))\n",
     True, "passed"),
    ("float tolerance", MEAN, "n = int(input())\nxs = list(map(float, input().split()))\nprint(sum(xs) / n + 1e-7)\n",
     True, "passed"),
    ("float off", MEAN, "n = int(input())\nprint(2.51)\n", False, "failed"),
    ("sys.exit after output", SUM, "import sys\na, b = map(int, input().split())\nprint(a + b)\nsys.exit(0)\n",
     True, "passed"),
    ("exit() is guarded", SUM, "a, b = map(int, input().split())\nprint(a + b)\nexit()\n", -1, "error"),
    ("main guard", SUM, "def main():\n    a, b = map(int, input().split())\n    print(a + b)\n"
     "if __name__ == '__main__':\n    main()\n", False, "failed"),
    ("stdin alias readline", SUM, "import sys\na, b = map(int, sys.stdin.readline().split())\nprint(a + b)\n", True,
     "passed"),
    ("open(0)", SUM, "a, b = map(int, open(0).read().split())\nprint(a + b)\n", True, "passed"),
    ("reads past the input", SUM, "a, b = map(int, input().split())\nc = input()\nprint(a + b)\n", -1, "error"),
    ("top-level import later", SUM, "a, b = 1, 2\nimport math\nprint(math.floor(a + b))\n", False, "failed"),
]

CALL = [
    ("correct", ADD, "def add_all(xs):\n    return sum(xs)\n", True, "passed"),
    ("wrong", ADD, "def add_all(xs):\n    return len(xs)\n", False, "failed"),
    ("crash", ADD, "def add_all(xs):\n    return xs[5]\n", -1, "error"),
    ("slow", ADD, "def add_all(xs):\n    while True:\n        pass\n", -1, "timeout"),
    ("syntax", ADD, "def add_all(xs:\n    return 1\n", -2, "compile_error"),
    ("missing function", ADD, "def other(xs):\n    return sum(xs)\n", -2, "compile_error"),
    ("prints instead", ADD, "def add_all(xs):\n    print(sum(xs))\n", False, "failed"),
    ("tuple for list", PAIR, "def divmod_pair(a, b):\n    return a // b, a % b\n", True, "passed"),
    ("unwrapped list", PAIR, "def divmod_pair(a, b):\n    return [a // b, a % b]\n", True, "passed"),
    ("wrapped", ADD, "def add_all(xs):\n    return [sum(xs)]\n", True, "passed"),
    ("float for int", ADD, "def add_all(xs):\n    return float(sum(xs))\n", True, "passed"),
    ("string for int", ADD, "def add_all(xs):\n    return str(sum(xs))\n", False, "failed"),
    ("class Solution", TWO, "class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n"
     "        for i, x in enumerate(nums):\n            if target - x in seen:\n"
     "                return [seen[target - x], i]\n            seen[x] = i\n", True, "passed"),
    ("int keys", KEYS, "def count(s):\n    from collections import Counter\n"
     "    return dict(Counter(Counter(s).values()))\n", True, "passed"),
]
