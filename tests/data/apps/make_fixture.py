"""Writes test.jsonl and train.jsonl: APPS-format problems written for evalkit's tests (not from APPS).

Run from this folder: python make_fixture.py. Fields and encodings as in codeparrot/apps (solutions and
input_output are JSON strings).
"""

import json


def row(pid, question, solutions, io, difficulty, starter=""):
    return {"problem_id": pid, "question": question, "solutions": json.dumps(solutions),
            "input_output": json.dumps(io) if io is not None else "", "difficulty": difficulty,
            "url": f"https://example.invalid/apps-fixture/{pid}", "starter_code": starter}


TEST = [
    row(1, "Read two integers a and b on one line and print their sum.\n\n-----Input-----\nTwo integers.\n\n"
        "-----Output-----\nTheir sum.",
        ["a, b = map(int, input().split())\nprint(a + b)\n"],
        {"inputs": ["1 2\n", "-5 5\n", "100 23\n"], "outputs": ["3\n", "0\n", "123\n"]}, "introductory"),
    row(2, "Read n, then print the numbers 1..i on line i, separated by spaces, for i = 1..n.",
        ["import sys\nn = int(sys.stdin.readline())\nfor i in range(1, n + 1):\n"
         "    print(*range(1, i + 1))\n"],
        {"inputs": ["3\n", "1\n"], "outputs": ["1\n1 2\n1 2 3\n", "1\n"]}, "interview"),
    row(3, "Read n numbers (n first, then the numbers on one line) and print their mean.",
        ["n = int(input())\nxs = list(map(float, input().split()))\nprint(sum(xs) / n)\n"],
        {"inputs": ["2\n1 4\n", "3\n1 1 2\n"], "outputs": ["2.5000000\n", "1.3333333\n"]}, "competition"),
    row(4, "Write a function add_all(xs) that returns the sum of the list xs.",
        ["def add_all(xs):\n    return sum(xs)\n"],
        {"fn_name": "add_all", "inputs": [[[1, 2]], [[]], [[5, -5, 7]]], "outputs": [[3], [0], [7]]},
        "introductory", "def add_all(xs):\n\t"),
    row(5, "Given nums and target, return the indices of the two numbers that add up to target.",
        ["class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
         "        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n"
         "                return [seen[target - x], i]\n            seen[x] = i\n"],
        {"fn_name": "twoSum", "inputs": [[[2, 7, 11, 15], 9], [[3, 2, 4], 6]], "outputs": [[0, 1], [1, 2]]},
        "interview", "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        "),
    row(6, "Write divmod_pair(a, b) returning the quotient and the remainder.",
        ["def divmod_pair(a, b):\n    return a // b, a % b\n"],
        {"fn_name": "divmod_pair", "inputs": [[7, 2], [9, 3]], "outputs": [[3, 1], [3, 0]]}, "competition",
        "def divmod_pair(a, b):\n\t"),
    row(7, "A problem without tests (left out of the task).", ["print(1)\n"], None, "interview"),
]

TRAIN = [
    row(10, "Print the square of the integer n read from the input.", ["n = int(input())\nprint(n * n)\n"],
        {"inputs": ["3\n"], "outputs": ["9\n"]}, "introductory"),
    row(11, "Write a function double(x) that returns 2 * x.", ["def double(x):\n    return 2 * x\n"],
        {"fn_name": "double", "inputs": [[2]], "outputs": [[4]]}, "introductory", "def double(x):\n\t"),
    row(12, "A longer interview problem (not a shot).", ["print(0)\n"], {"inputs": ["\n"], "outputs": ["0\n"]},
        "interview"),
    row(13, "A later introductory standard-input problem (not a shot: 10 comes first).", ["print(1)\n"],
        {"inputs": ["\n"], "outputs": ["1\n"]}, "introductory"),
]

for name, rows in (("test.jsonl", TEST), ("train.jsonl", TRAIN)):
    with open(name, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
