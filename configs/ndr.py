# Short name of configs/ndr/ndr_paper_1xb4-1000k_allinone3.py (`mim train mmagic configs/ndr.py`).
_base_ = ['./ndr/ndr_paper_1xb4-1000k_allinone3.py']
